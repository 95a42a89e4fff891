"""The rules every broadcast and booking is held to, whichever door it came through (`onair broadcast
add`, `onair book add`, a row of `onair import`, `POST /v1/bookings`, `PATCH /v1/bookings/ID`): the
planner's own checks (so nothing accepted here is flagged invalid later), the title's length, the
longest span the planner sees, and no start in the past unless the caller allows it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime

from worker.domain.specs import BroadcastSpec, broadcast_problems
from worker.domain.text import show_duration
from worker.service.errors import Problem
from worker.service.text import text_problem
from worker.store.schedules import MAX_SPAN


def slot_problems(
    spec: BroadcastSpec,
    *,
    now: datetime,
    known_streams: Collection[str] | None = None,
    stream_hint: str = "",
    allow_past: bool = False,
    start_changed: bool = True,
    past_advice: str = "",
) -> list[Problem]:
    """Every reason the slot cannot be stored, each naming its field; empty when it can.

    `known_streams`: None when the caller checks the stream itself (the CLI may ask FastPix).
    A start in the past is refused only when the start is being set (moving the end of a slot that is
    on air is fine), and an end in the past always, unless `allow_past`.
    """
    problems: list[Problem] = []
    if known_streams is not None and spec.stream_id not in known_streams:
        problems.append(Problem("stream_id", f"unknown stream {spec.stream_id!r}{stream_hint}"))
    problems += [Problem(field, reason) for field, reason in broadcast_problems(spec, {spec.stream_id})]
    title = text_problem("title", spec.title)
    if title and not any(p.field == "title" for p in problems):
        problems.append(Problem("title", title))
    span = spec.ends_at - spec.slot_start
    if not problems and span > MAX_SPAN:
        problems.append(
            Problem(
                "end",
                f"lead plus duration is {show_duration(span.total_seconds())}; onair plans broadcasts "
                f"of at most {MAX_SPAN.days} days: split it",
            )
        )
    if not allow_past:
        advice = f": {past_advice}" if past_advice else ""
        if start_changed and spec.starts_at < now:
            problems.append(
                Problem(
                    "start",
                    f"start {spec.starts_at.isoformat()} is in the past "
                    f"(now {now.isoformat(timespec='seconds')}){advice}",
                )
            )
        elif spec.ends_at <= now:
            problems.append(
                Problem(
                    "end",
                    f"end {spec.ends_at.isoformat()} is in the past (now {now.isoformat(timespec='seconds')})"
                    f"{advice}",
                )
            )
    return problems


def slot_values(spec: BroadcastSpec, *, now: datetime, organiser_id: int | None = None) -> dict[str, object]:
    """The `broadcasts` columns for a checked slot (a booking when `organiser_id` is given)."""
    metadata = spec.metadata if isinstance(spec.metadata, Mapping) else None
    return {
        "stream_id": spec.stream_id,
        "starts_at": spec.starts_at,
        "ends_at": spec.ends_at,
        "lead_seconds": int(spec.lead.total_seconds()),
        "slot_starts_at": spec.slot_start,
        "title": spec.title,
        "metadata_json": json.dumps(dict(metadata), sort_keys=True) if metadata else None,
        "reconnect_window": spec.reconnect_window,
        "organiser_id": organiser_id,
        "created_at": now,
        "updated_at": now,
    }

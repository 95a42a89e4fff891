"""One broadcast or booking as the CLI takes it: parsed, checked, and turned into a `broadcasts` row.

`onair broadcast add`, `onair book add` and `onair import` all go through `read_slot`, so a row in an
imported file is held to exactly the rules a typed command is. The stream and the overlap with other
slots are checked by the callers: those need the database (and perhaps FastPix), once per stream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from worker.cli.timeparse import BadInput, parse_duration, parse_instant, show_duration
from worker.domain.specs import BroadcastSpec, check_broadcast
from worker.service.text import text_problem
from worker.store.models import Broadcast
from worker.store.schedules import MAX_SPAN


def read_slot(
    stream: str,
    start: str,
    end: str,
    *,
    tz: str | None,
    lead: str | None,
    default_lead_seconds: int,
    now: datetime,
    allow_past: bool,
    title: str | None = None,
    metadata: Mapping[str, str] | None = None,
    reconnect_window: int | None = None,
) -> BroadcastSpec:
    """The slot typed as text (times with a zone, or local times with `tz`; lead as a duration, or
    the default), checked as the planner would check it. BadInput naming every problem found."""
    starts_at = parse_instant(start, tz, what="start")
    ends_at = parse_instant(end, tz, what="end")
    lead_time = (
        parse_duration(lead, what="lead", allow_zero=True)
        if lead is not None
        else timedelta(seconds=default_lead_seconds)
    )
    spec = BroadcastSpec(
        id=0,
        stream_id=stream,
        starts_at=starts_at,
        ends_at=ends_at,
        lead=lead_time,
        title=title,
        metadata=dict(metadata) if metadata else None,
        reconnect_window=reconnect_window,
    )
    check_broadcast_input(spec, now, allow_past)
    return spec


def check_broadcast_input(spec: BroadcastSpec, now: datetime, allow_past: bool) -> None:
    # The stream is checked separately (it may need FastPix), so here every stream counts as known.
    reasons = check_broadcast(spec, {spec.stream_id})
    if reasons:
        raise BadInput("; ".join(reasons))
    title_problem = text_problem("title", spec.title)
    if title_problem:
        raise BadInput(title_problem)
    if spec.ends_at - spec.slot_start > MAX_SPAN:
        raise BadInput(
            f"lead plus duration is {show_duration((spec.ends_at - spec.slot_start).total_seconds())}; "
            f"onair plans broadcasts of at most {show_duration(MAX_SPAN.total_seconds())}: split it"
        )
    if spec.starts_at < now and not allow_past:
        raise BadInput(
            f"start {spec.starts_at.isoformat()} is in the past (now {now.isoformat(timespec='seconds')}): "
            f"pass --allow-past to record it anyway"
        )


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


def slot_row(spec: BroadcastSpec, *, now: datetime, organiser_id: int | None = None) -> Broadcast:
    return Broadcast(**slot_values(spec, now=now, organiser_id=organiser_id))

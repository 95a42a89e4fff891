"""How `onair plan` and `onair history --stream` show a stream's pauses (`onair streams pause`) and the
other changes people made to it by hand."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from worker.cli import output
from worker.cli.timeparse import iso_utc, show_instant
from worker.domain.pauses import Pause, describe
from worker.service.control_log import ControlEvent
from worker.service.pauses import PauseRecord


def print_in_force(paused: list[Pause]) -> None:
    """One line per stream paused now: who, since when, until when, and the note."""
    for pause in paused:
        output.info(f"stream {pause.stream_id} is {describe(pause)}: onair sends it no act")


def in_force_json(paused: list[Pause]) -> list[dict[str, Any]]:
    return [
        {
            "stream_id": p.stream_id,
            "paused_at": iso_utc(p.paused_at),
            "paused_by": p.paused_by,
            "note": p.note,
            "until": iso_utc(p.until),
        }
        for p in paused
    ]


def print_history(stream: str, rows: list[PauseRecord], zone: tzinfo) -> None:
    """The stream's pauses, newest first, with their notes."""
    if not rows:
        return
    output.print_table(
        ("paused", "by", "until", "ended", "ended by", "note"),
        (
            (
                show_instant(r.paused_at, zone),
                r.paused_by,
                show_instant(r.until, zone) if r.until else "resumed",
                show_instant(r.resumed_at, zone),
                r.resumed_by,
                r.note,
            )
            for r in rows
        ),
        title=f"pauses of stream {stream}",
    )


def print_changes(stream: str, events: list[ControlEvent], zone: tzinfo) -> None:
    """The stream's changes by hand (pause, resume, move, edit), newest first, with who and why."""
    if not events:
        return
    output.print_table(
        ("at", "who", "change", "detail"),
        ((show_instant(e.at, zone), e.actor, e.event, e.detail) for e in events),
        title=f"changes to stream {stream}",
    )

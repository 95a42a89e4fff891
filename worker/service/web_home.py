"""What an organiser's home page lists: their upcoming and running bookings, with stream names and
local times (each with its UTC offset, so a DST week reads right)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from worker.service.bookings import bookings_of
from worker.store.db import transaction
from worker.store.observations import stream_names


@dataclass(frozen=True)
class BookingLine:
    id: int
    title: str
    stream: str
    starts: str
    ends: str


def local(moment: datetime, zone: ZoneInfo) -> str:
    """`Tue 1 Dec 19:00 (+01:00)`."""
    shown = moment.astimezone(zone)
    offset = shown.strftime("%z")
    return f"{shown:%a} {shown.day} {shown:%b %H:%M} ({offset[:3]}:{offset[3:]})"


def upcoming_bookings(
    engine: Engine, organiser_id: int, *, now: datetime, zone: ZoneInfo
) -> list[BookingLine]:
    with transaction(engine, immediate=False) as session:
        rows = bookings_of(session, organiser_id, now=now, include_past=False)
        names = stream_names(session)
        return [
            BookingLine(
                r.id,
                r.title or f"Booking #{r.id}",
                names.get(r.stream_id) or r.stream_id,
                local(r.starts_at, zone),
                local(r.ends_at, zone),
            )
            for r in rows
        ]

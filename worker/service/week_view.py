"""An organiser's week, as the home page shows it: for each stream (by name), each day of the week in
the organiser's zone with the slots on it: their own bookings with title and times, everything else
as plain "busy". Days run from local midnight to local midnight, so a DST week has a 23- or 25-hour
day and every time is shown with its offset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from worker.domain.local_time import offset_text
from worker.domain.zone_clock import ZoneClock
from worker.store.db import transaction
from worker.store.feeds import slot_times
from worker.store.observations import stream_names
from worker.store.schedules import known_stream_ids

DAYS = 7
DAY_SECONDS = 86400


class WeekSlot(NamedTuple):
    """A tuple, not an object: a busy week has thousands."""

    mine: bool
    id: int | None  # only the organiser's own
    title: str | None  # only the organiser's own
    starts: str  # `19:00 (+01:00)`; with the date when the slot began an earlier day
    ends: str


@dataclass(frozen=True)
class Day:
    day: date
    label: str  # `Mon 7 Dec`
    clocks_change: str | None  # `clocks change: +02:00 to +01:00` on a DST day


@dataclass(frozen=True)
class StreamWeek:
    stream_id: str
    name: str
    days: list[list[WeekSlot]]


@dataclass(frozen=True)
class Week:
    monday: date
    zone: str
    days: list[Day]
    streams: list[StreamWeek]
    previous: date
    next: date


def monday_of(moment: datetime, zone: ZoneInfo) -> date:
    """The Monday of the week that holds this instant in this zone."""
    today = moment.astimezone(zone).date()
    return today - timedelta(days=today.weekday())


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def organiser_week(engine: Engine, organiser_id: int, *, monday: date, zone: ZoneInfo) -> Week:
    monday = monday - timedelta(days=monday.weekday())
    days = [monday + timedelta(days=n) for n in range(DAYS)]
    bounds = [local_midnight(d, zone) for d in [*days, monday + timedelta(days=DAYS)]]
    with transaction(engine, immediate=False) as session:
        slots = slot_times(session, bounds[0], bounds[-1])
        names = stream_names(session)
        ids = known_stream_ids(session)
    streams = {
        sid: StreamWeek(sid, names.get(sid) or sid, [[] for _ in days])
        for sid in sorted(ids, key=lambda i: ((names.get(i) or i).lower(), i))
    }
    # Arithmetic on epoch seconds, with the zone's few offsets of the week looked up once.
    edges = [b.timestamp() for b in bounds]
    clock = ZoneClock(zone, edges[0] - DAY_SECONDS, edges[-1] + DAY_SECONDS)
    # Unpacked by position: named access on a database row costs more than the rest of the loop.
    for slot_id, stream_id, owner, title, starts_s, slot_starts_s, ends_s in slots:
        week = streams.get(stream_id)
        if week is None:  # a slot on a stream that is no longer listed: still shown, by its id
            week = streams[stream_id] = StreamWeek(stream_id, stream_id, [[] for _ in days])
        mine = owner == organiser_id
        # Own bookings show their on-air times; others show the whole slot they hold (lead included).
        begins = starts_s if mine else slot_starts_s
        for n in range(DAYS):
            if begins < edges[n + 1] and ends_s > edges[n]:
                starts = clock.clock(begins)
                if begins < edges[n]:  # began an earlier day: with its date
                    starts = f"{clock.day(begins)} {starts}"
                ends = clock.clock(ends_s)
                if ends_s > edges[n + 1]:  # ends a later day
                    ends = f"{clock.day(ends_s)} {ends}"
                week.days[n].append(
                    WeekSlot(mine, slot_id if mine else None, title if mine else None, starts, ends)
                )
    return Week(
        monday,
        zone.key,
        [_day(d, bounds[i], bounds[i + 1], zone) for i, d in enumerate(days)],
        list(streams.values()),
        monday - timedelta(days=DAYS),
        monday + timedelta(days=DAYS),
    )


def _day(day: date, start: datetime, end: datetime, zone: ZoneInfo) -> Day:
    before, after = offset_text(start, zone), offset_text(end, zone)
    change = None if before == after else f"clocks change: {before} to {after}"
    return Day(day, f"{day:%a} {day.day} {day:%b}", change)

"""Wall-clock times as people type them into a form (`2026-12-07T19:00`, what a `datetime-local` input
sends) read in a named zone, and instants shown back with their UTC offset."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def read_wall_time(field: str, text: str, zone: ZoneInfo) -> datetime:
    """The aware UTC instant `text` names on the clocks of `zone`. ValueError naming the field when it
    is not a date and time, or when that wall time does not exist (skipped when clocks go forward).
    A wall time that happens twice (clocks go back) is its first occurrence."""
    value = text.strip()
    try:
        wall = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}: {value!r} is not a date and time like 2026-12-07T19:00") from None
    if wall.tzinfo is not None:
        raise ValueError(f"{field}: give the time without an offset; it is read in {zone.key}")
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        raise ValueError(
            f"{field}: {wall:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks skip it): "
            "pick a time outside the change"
        )
    return instant


def wall_input(moment: datetime, zone: ZoneInfo) -> str:
    """What a `datetime-local` input shows for this instant in this zone: `2026-12-07T19:00`."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def offset_text(moment: datetime, zone: ZoneInfo) -> str:
    """`+01:00`: the zone's offset from UTC at that instant."""
    offset = moment.astimezone(zone).strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


def clock_text(moment: datetime, zone: ZoneInfo) -> str:
    """`19:00 (+01:00)`."""
    return f"{moment.astimezone(zone):%H:%M} ({offset_text(moment, zone)})"


def day_and_clock(moment: datetime, zone: ZoneInfo) -> str:
    """`Tue 1 Dec 19:00 (+01:00)`."""
    shown = moment.astimezone(zone)
    return f"{shown:%a} {shown.day} {shown:%b} {clock_text(moment, zone)}"

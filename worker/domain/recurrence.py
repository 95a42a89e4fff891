"""Cron rules in an IANA time zone, expanded into aware UTC instants. Pure: no I/O, no clock.

A rule is read on the local wall clock of its zone. croniter only ever sees naive wall times
(so its own, version-dependent DST handling never comes into play); each wall time is turned into
a UTC instant by `wall_to_utc`, which applies onair's DST rule:

- A wall time that does not exist (spring forward gap, e.g. 02:30 Europe/Berlin on the last Sunday
  of March) fires at the first instant after the gap (03:00 local = 01:00 UTC). Several wall times
  inside one gap all land on that instant and fire once.
- A wall time that exists twice (fall back) fires once, at its FIRST occurrence (fold=0).
- Rules fire once per wall-clock time: `*/30 * * * *` fires at 02:00 and 02:30 in the first pass of
  a repeated hour and is silent during the second pass.

The instants of an expansion are therefore strictly increasing, with no duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from worker.clock import ensure_utc

CRON_KEYWORDS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})

# Wall times just before a window's start can land inside it (a gap time moves forward), and no
# zone shifts by more than a day, so expansion starts this far before the window on the wall clock.
_WALL_MARGIN = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)


ZONE_NAME_MAX_CHARS = 64


def validate_timezone(name: str) -> str | None:
    """None if `name` is an IANA zone zoneinfo knows, else the reason."""
    if not name or not name.strip():
        return "time zone is empty"
    if len(name) > ZONE_NAME_MAX_CHARS:
        return f"time zone name has {len(name)} characters; IANA names have at most {ZONE_NAME_MAX_CHARS}"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a tzdata folder such as 'Europe' (IsADirectoryError) or a name the OS refuses.
        return f"unknown time zone {name!r}"
    return None


def validate_cron(expr: str) -> str | None:
    """None if `expr` is a five-field cron rule (or @daily-style keyword) that fires, else the reason."""
    text = expr.strip()
    if not text:
        return "cron expression is empty"
    fields = text.split()
    if text.startswith("@"):
        if text.lower() not in CRON_KEYWORDS:
            known = ", ".join(sorted(CRON_KEYWORDS))
            return f"bad cron expression {expr!r}: unknown keyword (use one of {known})"
    elif len(fields) != 5:
        return (
            f"bad cron expression {expr!r}: expected 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(fields)}"
        )
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)  # noqa: DTZ001 - croniter runs on wall time
    except CroniterBadDateError:
        return f"bad cron expression {expr!r}: it never fires"
    except (CroniterError, ValueError, KeyError) as exc:
        return f"bad cron expression {expr!r}: {exc}"
    return None


def zone(name: str) -> ZoneInfo:
    """The zone called `name`; ValueError with the reason if there is none."""
    reason = validate_timezone(name)
    if reason is not None:
        raise ValueError(reason)
    return ZoneInfo(name)


def wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant a naive local wall time fires at, by the DST rule in the module docstring."""
    if wall.tzinfo is not None:
        raise ValueError(f"expected a naive wall time, got {wall.isoformat()}")
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # exists (once, or twice and this is the first occurrence)
    # In a gap: fold=0 reads the wall time with the offset before the jump, fold=1 with the one after.
    # The jump itself lies between those two readings; find its instant to the second.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = first
    if low > high:
        low, high = high, low
    offset_before = low.astimezone(tz).utcoffset()
    while high - low > _ONE_SECOND:
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            break
        if middle.astimezone(tz).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return high


def _wall_times(expr: str, after: datetime) -> Iterator[datetime]:
    runner = croniter(expr.strip(), after)
    while True:
        try:
            yield runner.get_next(datetime)
        except CroniterBadDateError:
            return


def expand(expr: str, tz_name: str, start: datetime, end: datetime) -> list[datetime]:
    """Every instant in [start, end) at which the rule fires, as aware UTC datetimes, in order."""
    start, end = ensure_utc(start), ensure_utc(end)
    tz = zone(tz_name)
    wall_start = start.astimezone(tz).replace(tzinfo=None) - _WALL_MARGIN
    instants: list[datetime] = []
    for wall in _wall_times(expr, wall_start):
        instant = wall_to_utc(wall, tz)
        if instant >= end:
            break
        if instant < start or (instants and instant == instants[-1]):
            continue
        instants.append(instant)
    return instants


def next_fire_after(expr: str, tz_name: str, after: datetime) -> datetime | None:
    """The first instant strictly after `after` at which the rule fires, or None if it never does."""
    after = ensure_utc(after)
    tz = zone(tz_name)
    wall_start = after.astimezone(tz).replace(tzinfo=None) - _WALL_MARGIN
    for wall in _wall_times(expr, wall_start):
        instant = wall_to_utc(wall, tz)
        if instant > after:
            return instant
    return None

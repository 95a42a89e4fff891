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

from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from worker.clock import ensure_utc
from worker.domain.text import printable, quoted

CRON_KEYWORDS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})

# Wall times just before a window's start can land inside it (a gap time moves forward), and no
# zone shifts by more than a day, so expansion starts this far before the window on the wall clock.
_WALL_MARGIN = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)
# The longest IANA name is 32 characters; the columns hold 64.
MAX_ZONE_CHARS = 64


def validate_timezone(name: object) -> str | None:
    """None if `name` is an IANA zone zoneinfo knows, else the reason.

    Whatever zoneinfo raises counts as "unknown": a folder of the zone database (`Europe`) raises
    IsADirectoryError, an over-long name OSError, a NUL byte ValueError. This is the one check every
    edge (CLI, API, planner) asks, so none of them ever shows a traceback for a zone."""
    if not isinstance(name, str):
        return f"time zone must be text, got {type(name).__name__}"
    if not name.strip():
        return "time zone is empty"
    if len(name) > MAX_ZONE_CHARS:
        return f"unknown time zone {quoted(name)}: longer than {MAX_ZONE_CHARS} characters"
    try:
        ZoneInfo(name)
    except Exception:  # any failure to load a zone means the name is not one
        return f"unknown time zone {quoted(name)}"
    return None


def validate_cron(expr: object) -> str | None:
    """None if `expr` is a five-field cron rule (or @daily-style keyword) that fires, else the reason."""
    if not isinstance(expr, str):
        return f"cron expression must be text, got {type(expr).__name__}"
    return _cron_text_problem(expr)


@lru_cache(maxsize=1024)
def _cron_text_problem(expr: str) -> str | None:
    """validate_cron of a text, once per process: the planner checks every rule on every tick, and
    reading a rule with croniter cost more than planning a stretch's off-hours."""
    text = expr.strip()
    if not text:
        return "cron expression is empty"
    fields = text.split()
    if text.startswith("@"):
        if text.lower() not in CRON_KEYWORDS:
            known = ", ".join(sorted(CRON_KEYWORDS))
            return f"bad cron expression {quoted(expr)}: unknown keyword (use one of {known})"
    elif len(fields) != 5:
        return (
            f"bad cron expression {quoted(expr)}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)  # noqa: DTZ001 - croniter runs on wall time
    except CroniterBadDateError:
        return f"bad cron expression {quoted(expr)}: it never fires"
    except Exception as exc:  # croniter raises many types for text it cannot read
        return f"bad cron expression {quoted(expr)}: {printable(str(exc))}"
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
    if end - start > _CACHED_SPAN:
        return _expand(expr, tz_name, start, end)
    instants: list[datetime] = []
    for day in _days(start, end):
        fired = _day_instants(expr, tz_name, day)  # in order: the range is cut out, not filtered
        instants.extend(fired[bisect_left(fired, start) : bisect_left(fired, end)])
    return instants


def next_fire_after(expr: str, tz_name: str, after: datetime) -> datetime | None:
    """The first instant strictly after `after` at which the rule fires, or None if it never does."""
    after = ensure_utc(after)
    for day in _days(after, after + _CACHED_SPAN):
        for instant in _day_instants(expr, tz_name, day):
            if instant > after:
                return instant
    tz = zone(tz_name)
    wall_start = after.astimezone(tz).replace(tzinfo=None) - _WALL_MARGIN
    for wall in _wall_times(expr, wall_start):
        instant = wall_to_utc(wall, tz)
        if instant > after:
            return instant
    return None


# A rule's firings are computed a UTC day at a time and kept (the planner asks for the same days on
# every tick: walking croniter over them again cost most of an incremental tick).
_DAY = timedelta(days=1)
_CACHED_SPAN = timedelta(days=8)


def _days(start: datetime, end: datetime) -> Iterator[datetime]:
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        yield day
        day += _DAY


@lru_cache(maxsize=4096)
def _day_instants(expr: str, tz_name: str, day: datetime) -> tuple[datetime, ...]:
    return tuple(_expand(expr, tz_name, day, day + _DAY))


def _expand(expr: str, tz_name: str, start: datetime, end: datetime) -> list[datetime]:
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

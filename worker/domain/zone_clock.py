"""Instants (seconds since the epoch) shown on a zone's clocks, by arithmetic.

A week view shows thousands of times; converting each through a zoned datetime costs microseconds a
time, three conversions each. Over a bounded period a zone has only a few offsets, so this looks them
up once (where each one starts) and then shows a time with an addition and a division. It says exactly
what `local_time.clock_text` says for the same instant: tests compare the two across DST changes.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

SAMPLE_SECONDS = 3600  # zones change offset at most once an hour (in fact a few times a year)
UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _offset(zone: ZoneInfo, seconds: float) -> int:
    utc_offset = datetime.fromtimestamp(seconds, UTC).astimezone(zone).utcoffset()
    return int(utc_offset.total_seconds()) if utc_offset is not None else 0


def offset_label(offset: int) -> str:
    """`+01:00` for 3600: what `local_time.offset_text` shows."""
    sign = "-" if offset < 0 else "+"
    minutes = abs(offset) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class ZoneClock:
    """A zone's clocks over [start, end] (seconds since the epoch); times outside are still right,
    through the slower zoneinfo path."""

    def __init__(self, zone: ZoneInfo, start: float, end: float) -> None:
        self.zone = zone
        self.start, self.end = start, end
        self._starts: list[float] = [start]  # where each offset begins
        self._offsets: list[int] = [_offset(zone, start)]
        at = start
        while at < end:
            step = min(at + SAMPLE_SECONDS, end)
            if _offset(zone, step) != self._offsets[-1]:
                changed = self._change_between(at, step)
                self._starts.append(changed)
                self._offsets.append(_offset(zone, changed))
            at = step
        self._labels = {o: offset_label(o) for o in self._offsets}

    def _change_between(self, before: float, after: float) -> float:
        """The first whole second in (before, after] with the later offset (offsets change on a second)."""
        low, high = int(before), int(after) if after == int(after) else int(after) + 1
        wanted = _offset(self.zone, after)
        while high - low > 1:
            middle = (low + high) // 2
            if _offset(self.zone, middle) == wanted:
                high = middle
            else:
                low = middle
        return float(high)

    def offset(self, seconds: float) -> int:
        if not self.start <= seconds <= self.end:
            return _offset(self.zone, seconds)
        return self._offsets[bisect_right(self._starts, seconds) - 1]

    def clock(self, seconds: float) -> str:
        """`19:00 (+01:00)`."""
        offset = self.offset(seconds)
        minute = int((seconds + offset) // 60) % 1440
        label = self._labels.get(offset) or offset_label(offset)
        return f"{minute // 60:02d}:{minute % 60:02d} ({label})"

    def day(self, seconds: float) -> str:
        """`Tue 1 Dec`: the local date."""
        shown = date.fromordinal(UNIX_EPOCH_ORDINAL + int((seconds + self.offset(seconds)) // 86400))
        return f"{WEEKDAYS[shown.weekday()]} {shown.day} {MONTHS[shown.month - 1]}"

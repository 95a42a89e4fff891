"""Recurring broadcasts: a series row (cron in a zone, a duration, bounds) and its occurrences.
Pure: no I/O, no clock.

An occurrence starts at each instant `recurrence.expand` yields for the cron rule in the series' zone
(so the DST rule is the documented one: a start in a spring-forward gap fires once at the first instant
after the gap, a start that happens twice fires once, at its first occurrence) and lasts `duration` of
real elapsed time. Bounds, applied in this order:

- `starts_from`: no occurrence starts before it.
- `until`: no occurrence starts after it (an occurrence starting exactly at `until` is kept).
- `occurrence_limit`: only the first N firings of the rule at or after `starts_from` are occurrences.
  They are counted from `starts_from`, never from the window asked about, so every window agrees on
  which firing is the N-th.
- `skip_dates`: an occurrence whose start falls on one of these LOCAL dates (in the series' zone) is
  dropped. Skipped firings still count towards the limit (as iCalendar's EXDATE does with COUNT), so
  skipping a date never moves the end of a series.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from worker.clock import ensure_utc
from worker.domain.recurrence import expand, next_fire_after
from worker.domain.specs import RECONNECT_WINDOW_RANGE, parse_metadata, recurrence_problems

# Counting firings towards a limit walks forward in chunks: an hour first, doubling up to a year, so a
# minutely rule and a yearly one both take few expansions.
_FIRST_CHUNK = timedelta(hours=1)
_LARGEST_CHUNK = timedelta(days=366)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Occurrence:
    """One occurrence: [start_utc, end_utc) in UTC, and the local date of its start."""

    start_utc: datetime
    end_utc: datetime
    local_date: date


@dataclass(frozen=True)
class SeriesSpec:
    """One row of `broadcast_series`, raw as stored (nothing is validated here: `check_series` does).

    `skip_dates` is the stored text: comma-separated local dates `YYYY-MM-DD`.
    """

    id: int
    stream_id: str
    cron: str
    timezone: str
    duration: timedelta
    starts_from: datetime
    until: datetime | None = None
    occurrence_limit: int | None = None
    skip_dates: str | None = None
    lead: timedelta = timedelta(minutes=5)
    title: str | None = None
    metadata: Mapping[str, Any] | str | None = field(default=None, hash=False)
    reconnect_window: int | None = None

    def describe(self) -> str:
        title = f" {self.title!r}" if self.title else ""
        return f"series #{self.id}{title} ({self.cron} {self.timezone})"


def parse_skip_dates(text: str | None) -> tuple[frozenset[date], str | None]:
    """(dates, None) from `2026-12-25,2027-01-01` (spaces and empty items allowed), else (∅, reason)."""
    if text is None or not text.strip():
        return frozenset(), None
    dates: set[date] = set()
    for item in text.split(","):
        raw = item.strip()
        if not raw:
            continue
        try:
            if len(raw) != 10:
                raise ValueError(raw)
            dates.add(date.fromisoformat(raw))
        except ValueError:
            return frozenset(), f"skip date {raw!r} is not a date: use YYYY-MM-DD, separated by commas"
    return frozenset(dates), None


def format_skip_dates(dates: frozenset[date] | set[date]) -> str | None:
    """The stored form: sorted, comma-separated, or None for no dates."""
    return ",".join(d.isoformat() for d in sorted(dates)) or None


def check_series(spec: SeriesSpec) -> list[str]:
    """Every reason the series cannot produce occurrences; empty if it can. (Whether its stream is
    known is the caller's business, as for broadcasts.)"""
    reasons = recurrence_problems(spec.cron, spec.timezone, spec.title, "title")
    if spec.duration <= timedelta(0):
        reasons.append(f"duration {spec.duration.total_seconds():g} s is not positive")
    if spec.lead < timedelta(0):
        reasons.append(f"lead {spec.lead.total_seconds():g} s is negative")
    if spec.until is not None and spec.until < spec.starts_from:
        reasons.append(
            f"until {ensure_utc(spec.until).isoformat()} is before starts_from "
            f"{ensure_utc(spec.starts_from).isoformat()}: the series would never run"
        )
    limit = spec.occurrence_limit
    if limit is not None and (isinstance(limit, bool) or limit <= 0):
        reasons.append(f"occurrence limit {limit} is not positive")
    _, skip_reason = parse_skip_dates(spec.skip_dates)
    if skip_reason:
        reasons.append(skip_reason)
    _, metadata_reason = parse_metadata(spec.metadata)
    if metadata_reason:
        reasons.append(metadata_reason)
    low, high = RECONNECT_WINDOW_RANGE
    window = spec.reconnect_window
    if window is not None and (isinstance(window, bool) or not low <= window <= high):
        reasons.append(f"reconnect window {window} s is outside {low}..{high} s")
    return reasons


def occurrences(spec: SeriesSpec, window_start: datetime, window_end: datetime) -> list[Occurrence]:
    """The occurrences whose start lies in [window_start, window_end), in order.

    ValueError if the series is invalid (`check_series` names why)."""
    reasons = check_series(spec)
    if reasons:
        raise ValueError(f"{spec.describe()} cannot be expanded: {'; '.join(reasons)}")
    start = max(ensure_utc(window_start), ensure_utc(spec.starts_from))
    end = ensure_utc(window_end)
    last_start = last_firing(spec)
    if last_start is not None:
        end = min(end, last_start + _TICK)
    if end <= start:
        return []
    tz = ZoneInfo(spec.timezone)
    skipped, _ = parse_skip_dates(spec.skip_dates)
    found: list[Occurrence] = []
    for instant in expand(spec.cron, spec.timezone, start, end):
        local_date = instant.astimezone(tz).date()
        if local_date not in skipped:
            found.append(Occurrence(instant, instant + spec.duration, local_date))
    return found


def last_firing(spec: SeriesSpec) -> datetime | None:
    """The latest instant an occurrence may start at (from `until` and the limit), None if unbounded."""
    bounds = [ensure_utc(spec.until)] if spec.until is not None else []
    if spec.occurrence_limit is not None:
        nth = nth_firing(spec, spec.occurrence_limit)
        if nth is not None:
            bounds.append(nth)
    return min(bounds) if bounds else None


def nth_firing(spec: SeriesSpec, n: int) -> datetime | None:
    """The n-th firing (1-based) of the rule at or after `starts_from`, or None if it fires fewer
    times than that. Skip dates do not matter here: skipped firings count."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    for count, instant in enumerate(_firings(spec.cron, spec.timezone, ensure_utc(spec.starts_from)), 1):
        if count == n:
            return instant
    return None


def _firings(cron: str, tz_name: str, start: datetime) -> Iterator[datetime]:
    """Every firing at or after `start`, lazily. Expansion is split into chunks, which never changes
    the result (recurrence.expand's documented property)."""
    chunk = _FIRST_CHUNK
    cursor = start
    while True:
        batch = expand(cron, tz_name, cursor, cursor + chunk)
        yield from batch
        following = next_fire_after(cron, tz_name, cursor + chunk - _TICK)
        if following is None:
            return
        cursor = following
        chunk = min(chunk * 2, _LARGEST_CHUNK)


def next_occurrences(spec: SeriesSpec, after: datetime, count: int) -> list[Occurrence]:
    """The first `count` occurrences starting strictly after `after` (fewer if the series ends),
    found by looking ahead in growing windows rather than expanding a whole year of a minutely rule."""
    start = ensure_utc(after) + _TICK
    span = _FIRST_CHUNK
    found: list[Occurrence] = []
    last = last_firing(spec)
    while len(found) < count:
        found = occurrences(spec, start, start + span)
        if (last is not None and start + span > last) or span > _LARGEST_CHUNK * 50:
            break
        span *= 4
    return found[:count]

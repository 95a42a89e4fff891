"""An off-hours rule whose windows overlap each other is refused: a window that starts before the last
one ended would disable a stream already off and enable it again in the middle of the next window.

The rule is checked over the coming week (every weekly pattern repeats in it) and, for a rule firing
seldom enough, over the coming year (monthly and yearly patterns). The CLI and the service check it
from the moment it is entered; the planner checks a row written in SQL from its `created_at`, so its
verdict (and the words of its invalid_reason) are the same on every tick, whatever range it plans."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from worker.domain.recurrence import expand

WEEK = timedelta(days=8)
YEAR = timedelta(days=400)
FEW_FIRINGS = 2000


def overlap_problem(cron: str, timezone: str, duration: timedelta, now: datetime) -> str | None:
    """Why the rule's windows overlap (with the first two that do), or None when they never do."""
    fires = expand(cron, timezone, now, now + WEEK)
    if len(fires) < FEW_FIRINGS:
        fires = expand(cron, timezone, now, now + YEAR)
    for first, second in itertools.pairwise(fires):
        gap = second - first
        if gap < duration:
            return (
                f"its windows overlap: {cron!r} fires at {_at(first)} and again {_span(gap)} later at "
                f"{_at(second)}, but each window lasts {_span(duration)}: make the duration at most "
                f"{_span(gap)} or fire less often"
            )
    return None


@lru_cache(maxsize=1024)
def overlap_since(cron: str, timezone: str, duration: timedelta, since: datetime) -> str | None:
    """overlap_problem checked from `since` (a rule's created_at), once per process: the planner asks
    on every tick, and a minutely rule's week is ten thousand firings."""
    return overlap_problem(cron, timezone, duration, since)


def _at(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(value: timedelta) -> str:
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n) or "0s"

"""Retention rules: how old a finished action must be to be pruned, and the per-day figures kept for
the actions a prune deletes (docs/operations.md, "Retention"). Pure: takes `now`, does no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class PrunedAction:
    """What the figures need of one action about to be deleted."""

    stream_id: str
    kind: str
    state: str
    due_at: datetime
    # Its first attempt's first call left this long after due (the write, else the state check);
    # None when no call left (missed, cancelled, superseded...).
    lateness_ms: float | None


@dataclass(frozen=True)
class DailyFigure:
    """Actions of one UTC day (of their due instant), stream, kind and final state."""

    day: date
    stream_id: str
    kind: str
    state: str
    actions: int
    timed: int  # how many have a lateness
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None
    lateness_max_ms: float | None

    @property
    def key(self) -> tuple[date, str, str, str]:
        return (self.day, self.stream_id, self.kind, self.state)


def cutoff(now: datetime, days: int) -> datetime:
    """Finished actions due (and finished) before this instant are pruned: the UTC midnight that
    begins the day `days` days ago, so a prune takes whole days and each day's figures are whole."""
    if days < 1:
        raise ValueError(f"retention must be at least 1 day, not {days}")
    day = (now.astimezone(UTC) - timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest rank of an ascending, non-empty sequence (p in 0..100)."""
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarise(actions: Iterable[PrunedAction]) -> list[DailyFigure]:
    groups: dict[tuple[date, str, str, str], list[PrunedAction]] = defaultdict(list)
    for a in actions:
        groups[(a.due_at.date(), a.stream_id, a.kind, a.state)].append(a)
    figures = []
    for (day, stream_id, kind, state), members in sorted(groups.items()):
        late = sorted(a.lateness_ms for a in members if a.lateness_ms is not None)
        figures.append(
            DailyFigure(
                day,
                stream_id,
                kind,
                state,
                actions=len(members),
                timed=len(late),
                lateness_p50_ms=percentile(late, 50) if late else None,
                lateness_p99_ms=percentile(late, 99) if late else None,
                lateness_max_ms=late[-1] if late else None,
            )
        )
    return figures

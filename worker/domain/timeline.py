"""Per-stream intervals the planner reasons about: busy slots of broadcasts, merged off-hours windows.

Both are unions of half-open intervals [start, end). Intervals that overlap or merely touch are merged:
two touching off-hours windows must not produce an enable and a disable at the same instant, and a
broadcast that begins as another ends keeps the stream live across the seam.

Ties are broken by the smallest schedule id so that the same schedules always give the same result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.domain.specs import BroadcastSpec, OffHoursSpec


@dataclass(frozen=True)
class Busy:
    """A stretch during which one or more broadcast slots (lead included) keep a stream on."""

    start: datetime
    end: datetime
    members: tuple[BroadcastSpec, ...]

    @property
    def last(self) -> BroadcastSpec:
        """The broadcast whose end ends the stretch (smallest id on a tie)."""
        return min((b for b in self.members if b.ends_at == self.end), key=lambda b: b.id)

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def busy_intervals(broadcasts: Iterable[BroadcastSpec]) -> list[Busy]:
    """Merge the slots [start - lead, end) of broadcasts on one stream."""
    ordered = sorted(broadcasts, key=lambda b: (b.slot_start, b.id))
    merged: list[Busy] = []
    for broadcast in ordered:
        if merged and broadcast.slot_start <= merged[-1].end:
            current = merged[-1]
            end = max(current.end, broadcast.ends_at)
            merged[-1] = Busy(current.start, end, (*current.members, broadcast))
        else:
            merged.append(Busy(broadcast.slot_start, broadcast.ends_at, (broadcast,)))
    return merged


@dataclass(frozen=True)
class Window:
    """One firing of an off-hours rule: [start, start + duration)."""

    start: datetime
    end: datetime
    rule: OffHoursSpec


@dataclass(frozen=True)
class OffGroup:
    """Overlapping or touching off-hours windows on one stream, treated as one window."""

    start: datetime
    end: datetime
    windows: tuple[Window, ...]

    @property
    def opener(self) -> OffHoursSpec:
        """The rule whose window starts the group: it names the group's disable."""
        return min((w for w in self.windows if w.start == self.start), key=lambda w: w.rule.id).rule

    @property
    def closer(self) -> OffHoursSpec:
        """The rule whose window ends the group: it names the group's enable."""
        return min((w for w in self.windows if w.end == self.end), key=lambda w: w.rule.id).rule

    def rule_at(self, instant: datetime) -> OffHoursSpec:
        """The rule in force at `instant` (earliest-starting window covering it; smallest id on a tie).

        Depends only on windows that cover `instant`, so it does not change as the planning range moves.
        """
        covering = [w for w in self.windows if w.start <= instant < w.end]
        return min(covering, key=lambda w: (w.start, w.rule.id)).rule

    def describe(self) -> str:
        others = sorted({w.rule.id for w in self.windows} - {self.opener.id})
        merged = f" (merged with {', '.join(f'#{i}' for i in others)})" if others else ""
        return f"{self.opener.describe()}{merged}"

    def describe_end(self) -> str:
        others = sorted({w.rule.id for w in self.windows} - {self.closer.id})
        merged = f" (merged with {', '.join(f'#{i}' for i in others)})" if others else ""
        return f"{self.closer.describe()}{merged}"


def merge_windows(windows: Iterable[Window]) -> list[OffGroup]:
    ordered = sorted(windows, key=lambda w: (w.start, w.rule.id))
    groups: list[OffGroup] = []
    # Each group is made once, when it closes (a group rebuilt per window cost a tick's planning time).
    members: list[Window] = []
    end = datetime.min.replace(tzinfo=UTC)  # unread until a window has set it
    for window in ordered:
        if members and window.start <= end:
            members.append(window)
            end = max(end, window.end)
            continue
        if members:
            groups.append(OffGroup(members[0].start, end, tuple(members)))
        members, end = [window], window.end
    if members:
        groups.append(OffGroup(members[0].start, end, tuple(members)))
    return groups

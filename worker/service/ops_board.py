"""The ops board: one row per stream, from BEFORE ago to AFTER ahead, with its slots (broadcasts,
bookings, series occurrences), off-hours windows, and every action as a point coloured by its state
(done ones from the ledger, with their cause when they failed or were missed, as `onair report`
says it; planned and forecast
ones from the agenda that `onair plan` shows). Positions are in per-mille of the window, so a page
draws them without any arithmetic of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from worker.domain.causes import describe_failure
from worker.domain.types import ActionState
from worker.service.agenda import build_agenda, slot_kind
from worker.store import observations, views
from worker.store.db import transaction

BEFORE = timedelta(hours=6)
AFTER = timedelta(hours=24)
SCALE = 1000  # positions run from 0 (window start) to SCALE (window end)
# States a dot shows as: what ops ask "did it happen?" about.
_SHOWN_AS = {
    ActionState.PENDING.value: "planned",
    ActionState.CLAIMED.value: "planned",
    "forecast": "planned",
    ActionState.SUCCEEDED.value: "succeeded",
    ActionState.SKIPPED.value: "skipped",
    ActionState.FAILED.value: "failed",
    ActionState.MISSED.value: "missed",
}
_LEDGER_STATES = [s for s in _SHOWN_AS if s != "forecast"]


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    kind: str  # broadcast | booking | occurrence | off-hours
    label: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Dot:
    x: float
    state: str  # planned | succeeded | skipped | failed | missed
    action_id: int | None  # None for a forecast the planner has not written yet
    kind: str
    due_at: datetime
    cause: str | None


@dataclass
class BoardRow:
    stream_id: str
    name: str
    slots: list[Bar] = field(default_factory=list)
    off_hours: list[Bar] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)

    @property
    def explained(self) -> list[Dot]:
        """The dots with a cause to show (failed, missed): each drawn on its own, with its hover text."""
        return [d for d in self.dots if d.cause]

    @property
    def grouped(self) -> list[tuple[str, list[float]]]:
        """The other dots' positions by state: a board of thousands of actions draws each state of a
        row as one shape (a few bytes a dot) instead of an element per action."""
        found: dict[str, list[float]] = {}
        for dot in self.dots:
            if not dot.cause:
                found.setdefault(dot.state, []).append(dot.x)
        return list(found.items())


@dataclass(frozen=True)
class Board:
    start: datetime
    end: datetime
    now_x: float
    hours: list[tuple[float, datetime]]  # a tick per hour on the axis
    rows: list[BoardRow]


def ops_board(
    engine: Engine, now: datetime, *, before: timedelta = BEFORE, after: timedelta = AFTER
) -> Board:
    start, end = now - before, now + after

    def x(moment: datetime) -> float:
        clipped = min(max(moment, start), end)
        return round((clipped - start) / (end - start) * SCALE, 1)

    with transaction(engine, immediate=False) as session:
        names = views.stream_names(session)
        agenda = build_agenda(session, start, end, None)
        ledger = observations.action_points(session, start, end, _LEDGER_STATES)
    rows = {
        sid: BoardRow(sid, name or sid) for sid, name in sorted(names.items(), key=lambda i: i[1] or i[0])
    }

    def row_of(stream_id: str) -> BoardRow:
        row = rows.get(stream_id)
        if row is None:
            row = rows[stream_id] = BoardRow(stream_id, names.get(stream_id) or stream_id)
        return row

    for stream in agenda.streams:
        row = row_of(stream.stream_id)
        for slot in stream.slots:
            kind = slot_kind(slot)
            label = f"{kind} #{slot.id}" + (f" {slot.title}" if slot.title else "")
            row.slots.append(
                Bar(
                    x(slot.slot_starts_at),
                    round(x(slot.ends_at) - x(slot.slot_starts_at), 1),
                    kind,
                    label,
                    slot.slot_starts_at,
                    slot.ends_at,
                )
            )
        for window in stream.off_hours:
            row.off_hours.append(
                Bar(
                    x(window.start),
                    round(x(window.end) - x(window.start), 1),
                    "off-hours",
                    f"off-hours rule #{window.rule.id}",
                    window.start,
                    window.end,
                )
            )
        for entry in stream.actions:
            # Forecasts of what the planner will write (ledger rows come below); one in the past was
            # never planned, so it is not shown as if it were.
            if entry.id is None and entry.state in _SHOWN_AS and entry.due_at >= now:
                row.dots.append(Dot(x(entry.due_at), "planned", None, entry.kind, entry.due_at, None))
    for action in ledger:
        state = _SHOWN_AS[action.state]
        cause = None
        if state in ("failed", "missed"):
            cause = describe_failure(action.state, action.outcome, action.last_error)
        row_of(action.stream_id).dots.append(
            Dot(x(action.due_at), state, action.id, action.kind, action.due_at, cause)
        )
    for row in rows.values():
        row.dots.sort(key=lambda d: d.x)
    first_hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = [
        (x(first_hour + timedelta(hours=n)), first_hour + timedelta(hours=n))
        for n in range(int((end - first_hour) / timedelta(hours=1)) + 1)
    ]
    return Board(start, end, x(now), hours, list(rows.values()))

"""The ops board: one row per stream, from BEFORE ago to AFTER ahead, with its slots (broadcasts,
bookings, series occurrences), off-hours windows, and every action of the ledger as a point coloured
by its state, with its cause when it failed or was missed, as `onair report` says it. The planner
keeps the ledger ONAIR_HORIZON_HOURS (24 h by default) ahead, so planned actions fill the window.
Positions are in per-mille of the window, so a page draws them without any arithmetic of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Engine

from worker.domain.causes import describe_failure
from worker.domain.pauses import describe, holds
from worker.domain.recurrence import expand
from worker.domain.specs import check_off_hours, read_off_hours
from worker.domain.types import ActionState
from worker.service.agenda import slot_kind
from worker.store import observations, pauses, schedules, views
from worker.store.db import transaction
from worker.store.epoch import instant
from worker.store.models import OffHours
from worker.store.observations import ActionPoint

BEFORE = timedelta(hours=6)
AFTER = timedelta(hours=24)
SCALE = 1000  # positions run from 0 (window start) to SCALE (window end)
# States a dot shows as: what ops ask "did it happen?" about.
_SHOWN_AS = {
    ActionState.PENDING.value: "planned",
    ActionState.CLAIMED.value: "planned",
    ActionState.SUCCEEDED.value: "succeeded",
    ActionState.SKIPPED.value: "skipped",
    ActionState.FAILED.value: "failed",
    ActionState.MISSED.value: "missed",
}
_LEDGER_STATES = list(_SHOWN_AS)
_EXPLAINED = ("failed", "missed")  # drawn each with its cause


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    kind: str  # broadcast | booking | occurrence | off-hours | pause
    label: str
    starts_at: datetime
    ends_at: datetime
    slot_id: int | None = None  # the broadcast row a slot bar stands for


class Dot(NamedTuple):
    """An action on the board: a tuple, not an object, as a board holds thousands."""

    x: float
    state: str  # planned | succeeded | skipped | failed | missed
    action_id: int | None  # None for a forecast the planner has not written yet
    kind: str
    due_s: float  # seconds since the epoch
    cause: str | None

    @property
    def due_at(self) -> datetime:
        return instant(self.due_s)


@dataclass
class BoardRow:
    stream_id: str
    name: str
    slots: list[Bar] = field(default_factory=list)
    off_hours: list[Bar] = field(default_factory=list)
    # The dots with a cause to show (failed, missed): each drawn on its own, with its hover text.
    explained: list[Dot] = field(default_factory=list)
    # The other dots' positions by state: a board of thousands of actions draws each state of a row as
    # one shape (a few bytes a dot) instead of an element per action.
    quiet: dict[str, list[float]] = field(default_factory=dict)
    # Every action on the row as read, in due order; `dots` makes them Dots when asked (building ten
    # thousand on every render, for a page that draws only `quiet` and `explained`, cost 5-10 ms).
    points: list[ActionPoint] = field(default_factory=list)
    origin_s: float = 0.0  # the window's start, in seconds since the epoch
    per_second: float = 0.0  # per-mille of the window per second
    pauses: list[Bar] = field(default_factory=list)
    paused: str | None = None  # the pause in force now, in words

    @property
    def dots(self) -> list[Dot]:
        """Every action on the row, in due order."""
        explained = {dot.action_id: dot for dot in self.explained}
        return [
            explained.get(p.id)
            or Dot(
                round((p.due_s - self.origin_s) * self.per_second, 1),
                _SHOWN_AS[p.state],
                p.id,
                p.kind,
                p.due_s,
                None,
            )
            for p in self.points
        ]

    @property
    def grouped(self) -> list[tuple[str, list[float]]]:
        return list(self.quiet.items())


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
        slots = views.slots_between(session, start, end)
        rules = schedules.load_off_hours(session)
        ledger = observations.action_points(session, start, end, _LEDGER_STATES)
        held = [(pauses.as_pause(row), row.resumed_at) for row in pauses.overlapping(session, start, end)]
    rows = {
        sid: BoardRow(sid, name or sid) for sid, name in sorted(names.items(), key=lambda i: i[1] or i[0])
    }

    def row_of(stream_id: str) -> BoardRow:
        row = rows.get(stream_id)
        if row is None:
            row = rows[stream_id] = BoardRow(stream_id, names.get(stream_id) or stream_id)
        return row

    for slot in slots:
        kind = slot_kind(slot)
        label = f"{kind} #{slot.id}" + (f" {slot.title}" if slot.title else "")
        begins = x(slot.slot_starts_at)
        row_of(slot.stream_id).slots.append(
            Bar(
                begins,
                round(x(slot.ends_at) - begins, 1),
                kind,
                label,
                slot.slot_starts_at,
                slot.ends_at,
                slot.id,
            )
        )
    for pause, resumed_at in held:
        row = row_of(pause.stream_id)
        ends_at = min((t for t in (pause.until, resumed_at) if t is not None), default=None)
        begins = x(pause.paused_at)
        # A pause still holding runs to the window's end; one that ended says when and how.
        ended = "" if ends_at is None or ends_at > now else f"; ended {ends_at:%Y-%m-%d %H:%M:%S} UTC"
        row.pauses.append(
            Bar(
                begins,
                round(x(ends_at or end) - begins, 1),
                "pause",
                describe(pause) + ended,
                pause.paused_at,
                ends_at or end,
            )
        )
        if pause.paused_at <= now and resumed_at is None and holds(pause, now):
            row.paused = describe(pause)
    for rule, window_start, window_end in _off_hours_windows(rules, set(names), start, end):
        streams = [rule.stream_id] if rule.stream_id is not None else list(rows)
        begins = x(window_start)
        for stream_id in streams:
            row_of(stream_id).off_hours.append(
                Bar(
                    begins,
                    round(x(window_end) - begins, 1),
                    "off-hours",
                    f"off-hours rule #{rule.id}",
                    window_start,
                    window_end,
                )
            )
    # Arithmetic on epoch seconds: the window holds thousands of actions, each due inside it.
    start_s, per_second = start.timestamp(), SCALE / (end - start).total_seconds()
    # Unpacked by position: named access on a database row costs more than the rest of the loop.
    for point in ledger:
        action_id, stream_id, kind, due_s, ledger_state, outcome, last_error = point
        state = _SHOWN_AS[ledger_state]
        at = round((due_s - start_s) * per_second, 1)
        row = rows.get(stream_id) or row_of(stream_id)
        row.origin_s, row.per_second = start_s, per_second
        row.points.append(point)
        cause = describe_failure(ledger_state, outcome, last_error) if state in _EXPLAINED else None
        if cause:
            row.explained.append(Dot(at, state, action_id, kind, due_s, cause))
        else:
            row.quiet.setdefault(state, []).append(at)
    first_hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = [
        (x(first_hour + timedelta(hours=n)), first_hour + timedelta(hours=n))
        for n in range(int((end - first_hour) / timedelta(hours=1)) + 1)
    ]
    return Board(start, end, x(now), hours, list(rows.values()))


def _off_hours_windows(
    rules: list[OffHours], known_streams: set[str], start: datetime, end: datetime
) -> list[tuple[OffHours, datetime, datetime]]:
    """Each window [from, to) of a usable off-hours rule that touches [start, end)."""
    found: list[tuple[OffHours, datetime, datetime]] = []
    for rule in rules:
        spec = read_off_hours(rule)
        if isinstance(spec, str) or check_off_hours(spec, known_streams):
            continue  # a rule the planner cannot use: `onair doctor` and the report list it
        length = timedelta(seconds=rule.duration_seconds)
        found.extend((rule, at, at + length) for at in expand(rule.cron, rule.timezone, start - length, end))
    return found

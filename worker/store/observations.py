"""What health checks, alerts and the report read: schedule rows flagged invalid, actions that failed or
were missed, and a compact record of the gaps between scheduler ticks (in scheduler_state)."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, cast

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.domain.types import ActionState, Source
from worker.store import schedules
from worker.store.epoch import epoch_seconds
from worker.store.ledger_plan import CANCEL_OUTCOME
from worker.store.models import (
    Action,
    ActionEvent,
    Broadcast,
    BroadcastSeries,
    OffHours,
    SchedulerState,
    Stream,
)
from worker.store.sqlutil import chunked

GAPS_KEY = "gaps:"  # + dispatcher | planner: a JSON list of [start, end] ISO instants, newest last
GAPS_KEPT = 100

# The schedule tables an operator fills, by the name `table#id` shows.
SCHEDULE_TABLES: dict[str, type[Broadcast] | type[OffHours] | type[BroadcastSeries]] = {
    "broadcasts": Broadcast,
    "off_hours": OffHours,
    "broadcast_series": BroadcastSeries,
}


@dataclass(frozen=True)
class InvalidRow:
    table: str
    id: int
    stream_id: str | None
    reason: str

    @property
    def label(self) -> str:
        return f"{self.table}#{self.id}"


@dataclass(frozen=True)
class Gap:
    kind: str  # dispatcher | planner
    start: datetime  # the last tick before the gap
    end: datetime  # the first tick after it

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def invalid_rows(session: Session, stream: str | None = None) -> list[InvalidRow]:
    """Every schedule row (not cancelled) the planner flagged, table by table, in id order."""
    found: list[InvalidRow] = []
    for name, table in SCHEDULE_TABLES.items():
        query = select(table.id, table.stream_id, table.invalid_reason).where(
            table.invalid_reason.is_not(None), table.cancelled_at.is_(None)
        )
        if stream is not None:
            query = query.where(or_(table.stream_id == stream, table.stream_id.is_(None)))
        found.extend(
            InvalidRow(name, int(i), s, str(r)) for i, s, r in session.execute(query.order_by(table.id))
        )
    return found


def history_query(
    since: datetime | None = None,
    until: datetime | None = None,
    states: Collection[str] = (),
    stream: str | None = None,
    *,
    hide_replan: bool = False,
) -> Select[Action]:
    """Actions that ended, or are retrying, with their last change in [since, until), newest first.
    `hide_replan` leaves out actions cancelled before they ran because their schedule changed."""
    changed = func.coalesce(Action.finished_at, Action.updated_at)
    retrying = (Action.state == ActionState.PENDING.value) & (Action.attempts > 0)
    query = select(Action).where(or_(Action.state != ActionState.PENDING.value, retrying))
    if since is not None:
        query = query.where(changed >= ensure_utc(since))
    if until is not None:
        query = query.where(changed < ensure_utc(until))
    if states:
        query = query.where(Action.state.in_(list(states)))
    if stream is not None:
        query = query.where(Action.stream_id == stream)
    if hide_replan:
        query = query.where(~_replanned())
    return query.order_by(changed.desc(), Action.id.desc())


def history(
    session: Session,
    since: datetime | None = None,
    until: datetime | None = None,
    states: Collection[str] = (),
    stream: str | None = None,
    *,
    hide_replan: bool = False,
    limit: int | None = None,
) -> list[Action]:
    """The rows of history_query, at most `limit` of them (the newest)."""
    query = history_query(since, until, states, stream, hide_replan=hide_replan)
    return list(session.scalars(query if limit is None else query.limit(limit)))


def _replanned() -> ColumnElement[bool]:
    """Cancelled unrun while its schedule row lives on: an edit moved it (the row cancelled or deleted
    by a person is news; an edit's leftovers are noise)."""
    live = [
        exists().where(table.id == Action.source_id, table.cancelled_at.is_(None)) & (Action.source == source)
        for source, table in ((Source.BROADCAST.value, Broadcast), (Source.OFF_HOURS.value, OffHours))
    ]
    cancelled = (Action.state == ActionState.CANCELLED.value) & (Action.outcome == CANCEL_OUTCOME)
    return cancelled & or_(*live)


def actions_due_between(session: Session, since: datetime, until: datetime) -> list[Action]:
    query = (
        select(Action)
        .where(Action.due_at >= ensure_utc(since), Action.due_at < ensure_utc(until))
        .order_by(Action.due_at, Action.sequence, Action.id)
    )
    return list(session.scalars(query))


class ActionPoint(NamedTuple):
    """What a time axis shows of one action: when (seconds since the epoch: a board places thousands
    of them, so no datetime per row), what, how it ended, and why if it failed."""

    id: int
    stream_id: str
    kind: str
    due_s: float
    state: str
    outcome: str | None
    last_error: str | None


def action_points(
    session: Session, since: datetime, until: datetime, states: Collection[str]
) -> list[ActionPoint]:
    """Actions due in [since, until) in one of `states`, as plain tuples, by due time."""
    query = (
        select(
            Action.id,
            Action.stream_id,
            Action.kind,
            epoch_seconds(Action.due_at).label("due_s"),
            Action.state,
            Action.outcome,
            Action.last_error,
        )
        .where(
            Action.due_at >= ensure_utc(since),
            Action.due_at < ensure_utc(until),
            Action.state.in_(list(states)),
        )
        .order_by(Action.due_at, Action.id)
    )
    # Core rows (the ORM's result layer costs as much again) are named tuples with these very fields:
    # no object per row is built.
    return cast(list[ActionPoint], session.connection().execute(query).all())


def broadcasts_between(session: Session, since: datetime, until: datetime) -> list[Broadcast]:
    """Broadcasts whose slot (lead included is the planner's business: here, start to end) touches the
    period, cancelled ones too."""
    query = (
        select(Broadcast)
        .where(Broadcast.ends_at > ensure_utc(since), Broadcast.starts_at < ensure_utc(until))
        .order_by(Broadcast.starts_at, Broadcast.id)
    )
    return list(session.scalars(query))


def note_tick(session: Session, kind: str, key: str, now: datetime, gap_after: timedelta) -> Gap | None:
    """Record a tick under `key`; when the previous one is older than `gap_after`, also keep the gap."""
    previous = session.scalar(select(SchedulerState.updated_at).where(SchedulerState.key == key))
    return note_tick_after(session, kind, key, now, gap_after, previous)


def note_tick_after(
    session: Session, kind: str, key: str, now: datetime, gap_after: timedelta, previous: datetime | None
) -> Gap | None:
    """As note_tick, for a caller that has read the previous tick's instant (`previous`) already."""
    schedules.set_state(session, key, now.isoformat(), now=now)
    if previous is None or ensure_utc(now) - ensure_utc(previous) <= gap_after:
        return None
    gap = Gap(kind, ensure_utc(previous), ensure_utc(now))
    kept = _load_gaps(schedules.get_state(session, GAPS_KEY + kind))
    kept.append([gap.start.isoformat(), gap.end.isoformat()])
    schedules.set_state(session, GAPS_KEY + kind, json.dumps(kept[-GAPS_KEPT:]), now=now)
    return gap


def gaps(session: Session, kind: str, since: datetime, until: datetime) -> list[Gap]:
    """Recorded gaps of `kind` that overlap [since, until)."""
    found = []
    for start, end in _load_gaps(schedules.get_state(session, GAPS_KEY + kind)):
        gap = Gap(kind, ensure_utc(datetime.fromisoformat(start)), ensure_utc(datetime.fromisoformat(end)))
        if gap.end > since and gap.start < until:
            found.append(gap)
    return found


def _load_gaps(value: str | None) -> list[list[str]]:
    try:
        data = json.loads(value or "[]")
    except ValueError:
        return []
    return [list(pair) for pair in data if isinstance(pair, list) and len(pair) == 2]


def actions_of_broadcasts(session: Session, broadcast_ids: Collection[int]) -> dict[int, list[Action]]:
    """Each broadcast's actions, in due order."""
    found: dict[int, list[Action]] = {i: [] for i in broadcast_ids}
    for chunk in chunked(list(broadcast_ids)):
        query = (
            select(Action)
            .where(Action.source == Source.BROADCAST.value, Action.source_id.in_(chunk))
            .order_by(Action.due_at, Action.sequence, Action.id)
        )
        for action in session.scalars(query):
            found[int(action.source_id or 0)].append(action)
    return found


def first_attempt_calls(
    session: Session, action_ids: Collection[int]
) -> dict[int, list[tuple[str, datetime]]]:
    """Per action, its first attempt's API calls as (method, when it left), in order."""
    found: dict[int, list[tuple[str, datetime]]] = {}
    for chunk in chunked(list(action_ids)):
        query = (
            select(ActionEvent.action_id, ActionEvent.http_method, ActionEvent.at)
            .where(
                ActionEvent.action_id.in_(chunk),
                ActionEvent.event == "api_call",
                ActionEvent.attempt == 1,
            )
            .order_by(ActionEvent.id)
        )
        for action_id, method, at in session.execute(query):
            found.setdefault(int(action_id or 0), []).append((str(method), ensure_utc(at)))
    return found


def stream_names(session: Session) -> dict[str, str]:
    return {sid: name for sid, name in session.execute(select(Stream.stream_id, Stream.name)) if name}


def failure_causes(session: Session, action_ids: Collection[int]) -> dict[int, str]:
    """Per action that gave up, the cause its `gave_up` event keeps (JSON), the latest if several."""
    found: dict[int, str] = {}
    for chunk in chunked(list(action_ids)):
        query = (
            select(ActionEvent.action_id, ActionEvent.detail)
            .where(ActionEvent.action_id.in_(chunk), ActionEvent.event == "gave_up")
            .order_by(ActionEvent.id)
        )
        for action_id, detail in session.execute(query):
            if action_id is not None and detail:
                found[int(action_id)] = str(detail)
    return found

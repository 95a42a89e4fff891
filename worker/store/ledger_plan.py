"""Writing the plan into the ledger: insert-if-absent, re-plan pending rows, cancel what is no longer planned.

Every statement here is a bulk one (IN lists, executemany): a tick costs a few round trips per
thousand planned rows, and nothing scans more than the pending rows.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, cast, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.domain.types import ActionKind, ActionState, PlannedAction, Source
from worker.store.events import Event, insert_events
from worker.store.models import Broadcast, OffHours
from worker.store.sqlutil import actions, chunked, lock_in_state
from worker.store.types import UTCDateTime

CANCEL_OUTCOME = "schedule changed or cancelled"
PENDING = ActionState.PENDING.value
CANCELLED = ActionState.CANCELLED.value


@dataclass(frozen=True)
class PlanStats:
    inserted: int
    updated: int
    cancelled: int


def payload_text(payload: dict[str, Any] | None) -> str | None:
    return None if payload is None else json.dumps(payload, sort_keys=True, separators=(",", ":"))


def apply_plan(
    session: Session,
    planned: Sequence[PlannedAction],
    *,
    scope_sources: Collection[tuple[Source, int]],
    window_start: datetime,
    window_end: datetime | None = None,
    now: datetime,
    actor: str = "planner",
    streams: Collection[str] | None = None,
    gone_anywhere: bool = True,
) -> PlanStats:
    """Make the ledger's pending rows match `planned`, the complete plan from window_start onwards.

    - A planned key absent from the ledger is inserted (pending, next_attempt_at = due_at).
    - A PENDING row whose due_at, deadline_at, payload, reason or sequence changed is re-planned.
      Claimed and finished rows are never touched.
    - A PENDING row due in [window_start, window_end] whose key is not planned is cancelled:
      for a source in scope_sources (the live sources the caller loaded) because its schedule no
      longer produces it; for any other source because that source no longer touches the window.
    - A PENDING row of any due time whose broadcast/off-hours row was deleted or cancelled is cancelled.
    With `streams`, the plan covers those streams only: no row on another stream is cancelled.
    With gone_anywhere=False, only rows due in the window are looked at, for a caller that knows every
    deleted or cancelled source's rows are in a window it plans (an incremental tick): the pending
    rows outside it are then neither read nor judged.
    A cancelled row's idempotency_key gets the suffix `#cancelled-<id>`: cancelled is final, and this
    frees the key so the same action can be planned afresh if the schedule moves back.
    Open the session with transaction(engine, immediate=True) on SQLite.
    """
    window_start, now = ensure_utc(window_start), ensure_utc(now)
    wanted = _unique_by_key(planned)
    existing = _load_by_keys(session, list(wanted))
    events: list[Event] = []
    inserted = _insert_absent(
        session, [p for k, p in wanted.items() if k not in existing], now, actor, events
    )
    updated = _replan(session, wanted, existing, now, actor, events)
    scope = set(scope_sources)
    window = (window_start, ensure_utc(window_end) if window_end else None)
    cancelled = _cancel_unplanned(session, wanted, scope, window, now, actor, events, streams, gone_anywhere)
    insert_events(session, events)
    return PlanStats(inserted=inserted, updated=updated, cancelled=cancelled)


@dataclass(frozen=True)
class LedgerGlance:
    """The ledger around a window, read once without the write lock, so a whole re-plan can tell
    which of its writes would change nothing and skip them: the rows due in the window (any state),
    each stream's pending rows there as (due_at, key) in due order, and the streams holding a pending
    row (anywhere in time) whose source was deleted or cancelled."""

    by_key: dict[str, Any]
    pending: dict[str, list[tuple[datetime, str]]]
    gone_streams: set[str]


def glance_ledger(session: Session, window_start: datetime, window_end: datetime) -> LedgerGlance:
    start, end = ensure_utc(window_start), ensure_utc(window_end)
    by_key: dict[str, Any] = {}
    pending: dict[str, list[tuple[datetime, str]]] = {}
    # Only what _changes compares (each timestamp parsed costs): not the columns a re-plan writes from.
    query = (
        select(
            actions.c.idempotency_key,
            actions.c.stream_id,
            actions.c.state,
            actions.c.due_at,
            actions.c.deadline_at,
            actions.c.payload,
            actions.c.reason,
            actions.c.sequence,
        )
        .where(actions.c.due_at >= start, actions.c.due_at <= end)
        .order_by(actions.c.due_at)
    )
    for row in session.execute(query):
        by_key[row.idempotency_key] = row
        if row.state == PENDING:
            pending.setdefault(row.stream_id, []).append((row.due_at, row.idempotency_key))
    gone = select(actions.c.stream_id).distinct().where(actions.c.state == PENDING, _source_gone())
    return LedgerGlance(by_key, pending, set(session.scalars(gone)))


def plan_changes_nothing(
    glance: LedgerGlance,
    planned: Sequence[PlannedAction],
    streams: Collection[str],
    window_start: datetime,
    window_end: datetime,
) -> bool:
    """Whether apply_plan(planned, streams=streams, window [window_start, window_end],
    gone_anywhere=True) would find nothing to write, judged from `glance` (read over a window holding
    this one): every planned row is there unchanged (or no longer pending), and no pending row of these
    streams is due in the window unplanned or has lost its source. Unsure means False."""
    wanted = {p.key for p in planned}
    for p in planned:
        row = glance.by_key.get(p.key)
        if row is None or (row.state == PENDING and _changes(row, p)):
            return False
    start, end = ensure_utc(window_start), ensure_utc(window_end)
    for stream in streams:
        if stream in glance.gone_streams:
            return False
        rows = glance.pending.get(stream, [])
        first = bisect_left(rows, (start, ""))
        for due, key in rows[first:]:
            if due > end:
                break
            if key not in wanted:
                return False
    return True


def _unique_by_key(planned: Sequence[PlannedAction]) -> dict[str, PlannedAction]:
    wanted: dict[str, PlannedAction] = {}
    for action in planned:
        other = wanted.setdefault(action.key, action)
        if other != action:
            raise ValueError(f"the plan holds two different actions with idempotency key {action.key!r}")
    return wanted


# The columns apply_plan compares and re-plans from.
_COMPARED = (
    actions.c.id,
    actions.c.idempotency_key,
    actions.c.stream_id,
    actions.c.state,
    actions.c.attempts,
    actions.c.due_at,
    actions.c.deadline_at,
    actions.c.next_attempt_at,
    actions.c.payload,
    actions.c.reason,
    actions.c.sequence,
    actions.c.outcome,
)


def _load_by_keys(session: Session, keys: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for chunk in chunked(keys):
        for row in session.execute(select(*_COMPARED).where(actions.c.idempotency_key.in_(chunk))):
            found[row.idempotency_key] = row
    return found


def _insert_absent(
    session: Session, absent: list[PlannedAction], now: datetime, actor: str, events: list[Event]
) -> int:
    if not absent:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {
            "idempotency_key": p.key,
            "stream_id": p.stream_id,
            "kind": p.kind.value,
            "source": p.source.value,
            "source_id": p.source_id,
            "due_at": ensure_utc(p.due_at),
            "deadline_at": ensure_utc(p.deadline_at),
            "sequence": p.sequence,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": ensure_utc(p.due_at),
            "reason": p.reason,
            "payload": payload_text(p.payload),
            "created_at": now,
            "updated_at": now,
        }
        for p in absent
    ]
    # A concurrent planner may have inserted the same key meanwhile: DO NOTHING, and RETURNING tells
    # which rows this call really inserted, so the history has one "planned" event per row.
    stmt = (
        insert(actions)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(actions.c.id, actions.c.idempotency_key)
    )
    by_key = {p.key: p for p in absent}
    count = 0
    for chunk in chunked(rows, 200):
        for action_id, key in session.execute(stmt, list(chunk)):
            p = by_key[key]
            count += 1
            events.append(
                Event(
                    action_id=action_id,
                    stream_id=p.stream_id,
                    at=now,
                    actor=actor,
                    event="planned",
                    to_state=PENDING,
                    detail=f"{p.kind.value} due {p.due_at.isoformat()}, deadline "
                    f"{p.deadline_at.isoformat()}: {p.reason}",
                )
            )
    return count


def _changes(row: Any, p: PlannedAction) -> list[str]:
    changes = []
    if row.due_at != p.due_at:
        changes.append(f"due_at {row.due_at.isoformat()} -> {ensure_utc(p.due_at).isoformat()}")
    if row.deadline_at != p.deadline_at:
        changes.append(
            f"deadline_at {row.deadline_at.isoformat()} -> {ensure_utc(p.deadline_at).isoformat()}"
        )
    if row.payload != payload_text(p.payload):
        changes.append("payload changed")
    if row.reason != p.reason:
        changes.append(f"reason now {p.reason!r}")
    if row.sequence != p.sequence:
        changes.append(f"sequence {row.sequence} -> {p.sequence}")
    return changes


def _replan(
    session: Session,
    wanted: dict[str, PlannedAction],
    existing: dict[str, Any],
    now: datetime,
    actor: str,
    events: list[Event],
) -> int:
    params: list[dict[str, Any]] = []
    candidates: list[tuple[Any, list[dict[str, Any]], Event]] = []
    for key, row in existing.items():
        p = wanted[key]
        changes = _changes(row, p)
        if row.state != PENDING or not changes:
            continue
        due = ensure_utc(p.due_at)
        # A row that is retrying keeps its back-off unless the new due time is later.
        next_attempt = due if row.attempts == 0 else max(row.next_attempt_at, due)
        candidates.append(
            (
                row,
                [
                    {
                        "b_id": row.id,
                        "b_from": row.state,
                        "b_due": due,
                        "b_deadline": ensure_utc(p.deadline_at),
                        "b_next": next_attempt,
                        "b_payload": payload_text(p.payload),
                        "b_reason": p.reason,
                        "b_sequence": p.sequence,
                    }
                ],
                Event(
                    row.id,
                    row.stream_id,
                    now,
                    actor,
                    "replanned",
                    PENDING,
                    PENDING,
                    detail="; ".join(changes),
                ),
            )
        )
    held = lock_in_state(session, [c[0].id for c in candidates], PENDING)
    for row, param, event in candidates:
        if row.id in held:
            params.extend(param)
            events.append(event)
    if params:
        stmt = (
            update(actions)
            .where(actions.c.id == bindparam("b_id"), actions.c.state == PENDING)
            .values(
                due_at=bindparam("b_due", type_=UTCDateTime()),
                deadline_at=bindparam("b_deadline", type_=UTCDateTime()),
                next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
                payload=bindparam("b_payload"),
                reason=bindparam("b_reason"),
                sequence=bindparam("b_sequence"),
                updated_at=now,
            )
        )
        session.connection().execute(stmt, params)
    return len(params)


def _cancel_unplanned(
    session: Session,
    wanted: dict[str, PlannedAction],
    scope: set[tuple[Source, int]],
    window: tuple[datetime, datetime | None],
    now: datetime,
    actor: str,
    events: list[Event],
    streams: Collection[str] | None,
    gone_anywhere: bool = True,
) -> int:
    source_gone = _source_gone()
    query = select(
        actions.c.id,
        actions.c.idempotency_key,
        actions.c.stream_id,
        actions.c.source,
        actions.c.source_id,
        actions.c.due_at,
        actions.c.kind,
        actions.c.state,
    )
    if streams is not None:
        query = query.where(actions.c.stream_id.in_(sorted(streams)))
    in_window = actions.c.due_at >= window[0]
    if window[1] is not None:
        in_window = and_(in_window, actions.c.due_at <= window[1])
    # Only the rows this call may cancel are read: those in the window, and (gone_anywhere) those
    # whose source is gone, wherever they are. A bounded window is read by its (stream_id, due_at)
    # index and its rows' states sorted out here: with `state = 'pending'` in the WHERE, SQLite picked
    # the state index for a hundred streams and walked every pending row of the ledger.
    if window[1] is not None:
        found = {row.id: row for row in session.execute(query.where(in_window)) if row.state == PENDING}
    else:
        found = {row.id: row for row in session.execute(query.where(actions.c.state == PENDING, in_window))}
    gone: set[int] = set()
    if gone_anywhere:
        for row in session.execute(query.where(actions.c.state == PENDING, source_gone)):
            found[row.id] = row
            gone.add(row.id)
    unplanned = [row for row in found.values() if row.idempotency_key not in wanted]
    # Whether the source is gone is asked of the unplanned rows only (usually none): asked of every
    # row in the window, PostgreSQL hashed every live broadcast to answer it.
    gone |= _gone_among(session, [row.id for row in unplanned if row.id not in gone])
    doomed: list[int] = []
    doomed_events: list[Event] = []
    for row in unplanned:
        if row.id in gone:
            why = f"{row.source} #{row.source_id} was deleted or cancelled"
        elif row.due_at < window[0] or (window[1] is not None and row.due_at > window[1]):
            continue
        elif (Source(row.source), row.source_id) in scope:
            why = f"{row.source} #{row.source_id} no longer plans it" + _merged(session, row)
        else:
            why = f"{row.source} #{row.source_id} no longer touches the planning window"
        doomed.append(row.id)
        doomed_events.append(
            Event(row.id, row.stream_id, now, actor, "cancelled", PENDING, CANCELLED, detail=why)
        )
    held = lock_in_state(session, doomed, PENDING)
    doomed = [i for i in doomed if i in held]
    events.extend(e for e in doomed_events if e.action_id in held)
    for chunk in chunked(doomed):
        session.execute(
            update(actions)
            .where(actions.c.id.in_(chunk), actions.c.state == PENDING)
            .values(
                state=CANCELLED,
                idempotency_key=actions.c.idempotency_key + "#cancelled-" + cast(actions.c.id, String),
                outcome=CANCEL_OUTCOME,
                finished_at=now,
                updated_at=now,
            )
        )
    return len(doomed)


def _gone_among(session: Session, action_ids: Sequence[int]) -> set[int]:
    """The actions among these whose source is gone (see _source_gone)."""
    gone: set[int] = set()
    for chunk in chunked(list(action_ids)):
        gone.update(session.scalars(select(actions.c.id).where(actions.c.id.in_(chunk), _source_gone())))
    return gone


def _source_gone() -> ColumnElement[bool]:
    """An action's broadcast or off-hours row was deleted or cancelled."""
    broadcast_alive = exists().where(Broadcast.id == actions.c.source_id, Broadcast.cancelled_at.is_(None))
    off_hours_alive = exists().where(OffHours.id == actions.c.source_id, OffHours.cancelled_at.is_(None))
    return or_(
        and_(actions.c.source == Source.BROADCAST.value, ~broadcast_alive),
        and_(actions.c.source == Source.OFF_HOURS.value, ~off_hours_alive),
    )


def _merged(session: Session, row: Any) -> str:
    """For a broadcast's finish dropped because another slot on the stream takes over at its end
    (back-to-back or overlapping: only the last end finishes), which slot that is."""
    if row.kind != ActionKind.FINISH.value or row.source != Source.BROADCAST.value:
        return ""
    due = ensure_utc(row.due_at)
    following = session.execute(
        select(Broadcast.id, Broadcast.ends_at)
        .where(
            Broadcast.stream_id == row.stream_id,
            Broadcast.cancelled_at.is_(None),
            Broadcast.id != row.source_id,
            Broadcast.slot_starts_at <= due,
            Broadcast.ends_at > due,
        )
        .limit(1)
    ).first()
    if following is None:
        return ""
    return (
        f": merged with broadcast #{following.id}, which runs on from its end, so the stream stays on "
        f"and only the end of #{following.id} ({ensure_utc(following.ends_at).isoformat()}) finishes"
    )

"""Claiming due actions under a lease, and taking back leases that expired.

The dispatcher's tick (dispatch_due) does all its work in one transaction: reclaim expired leases,
mark missed what can no longer run, claim what is due.

One claimer at a time runs the per-stream ordering logic: on PostgreSQL a transaction-level advisory
lock admits one claimer, and the others find it taken and claim nothing this tick (rows are also
locked FOR UPDATE SKIP LOCKED, against planners and reapers); on SQLite BEGIN IMMEDIATE serialises
them. Every UPDATE still says WHERE state = 'pending': that compare-and-set is the guard that holds
whatever else goes wrong.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import Engine, Row, and_, bindparam, case, func, or_, select, text, union_all, update
from sqlalchemy.orm import Session

from worker.clock import Clock, ensure_utc
from worker.domain.decisions import supersedes
from worker.domain.types import ActionKind, ActionState
from worker.store.db import transaction
from worker.store.events import Event, insert_events
from worker.store.sqlutil import IDS, IN_LIVE_INDEX, actions, chunked, lock_in_state
from worker.store.types import UTCDateTime

PENDING = ActionState.PENDING.value
CLAIMED = ActionState.CLAIMED.value
MISSED = ActionState.MISSED.value
# pg_advisory_xact_lock key for claimers: 'onair' in ASCII.
CLAIM_LOCK_KEY = 0x6F6E616972


@dataclass(frozen=True)
class Claim:
    action_id: int
    lease_token: str
    stream_id: str
    kind: ActionKind
    due_at: datetime
    next_attempt_at: datetime


@dataclass(frozen=True)
class MissedAction:
    id: int
    stream_id: str
    kind: str
    deadline_at: datetime
    outcome: str


@dataclass(frozen=True)
class Due:
    """What one dispatcher tick did in its transaction. `now`: the time read once the claim lock was
    held; `locked`: False when another claimer held it (PostgreSQL), and this tick did nothing."""

    now: datetime
    locked: bool
    reclaimed: int = 0
    missed: list[MissedAction] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)


def dispatch_due(
    session: Session,
    clock: Clock,
    *,
    ahead: timedelta,
    lease: timedelta,
    owner: str,
    limit: int,
    cap: Callable[[int], int] | None = None,
) -> Due:
    """The dispatcher's work of one tick, in the caller's transaction (on SQLite an immediate one: it
    holds the write lock): take back expired leases, mark missed what can no longer run, and claim
    what is due by now + ahead (see claim_due). `now` is read once the lock is held, so a tick that
    waited for it does not claim with a lease already partly spent. `cap`, given the number of actions
    in flight, bounds `limit` (the FastPix budget)."""
    if not _claim_lock(session):
        return Due(ensure_utc(clock.now()), locked=False)
    now = ensure_utc(clock.now())
    reclaimed = reclaim_expired(session, now, actor=owner)
    missed = mark_missed(session, now)
    if cap is not None:
        limit = cap(count_claimed(session))
    return Due(now, True, reclaimed, missed, _claim(session, now, ahead, lease, owner, limit))


def claim_due(
    engine: Engine,
    *,
    now: datetime | Clock,
    ahead: timedelta,
    lease: timedelta,
    owner: str,
    limit: int,
) -> list[Claim]:
    """Claim up to `limit` actions due by now + ahead, at most one per stream, in their stream's order,
    in a transaction of its own.

    Per stream only the first pending row in (due_at, sequence, id) order can be claimed, and none while
    the stream has a claimed row. A first row that is retrying (attempts > 0) is superseded by a later
    pending row on its stream that is already due. Expired leases are reclaimed first, in the same
    transaction, so a stream's earlier action is never overtaken because its lease ran out unnoticed.
    Given a Clock, `now` is read once the lock is held.
    """
    with transaction(engine, immediate=True) as session:
        if not _claim_lock(session):
            return []
        now = ensure_utc(now if isinstance(now, datetime) else now.now())
        reclaim_expired(session, now, actor=owner)
        return _claim(session, now, ahead, lease, owner, limit)


def _claim_lock(session: Session) -> bool:
    """One claimer at a time. On SQLite, the immediate transaction already holds the write lock."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    # Another claimer is at it: leave the work to it. Waiting for the lock held a connection per
    # waiting tick; under a burst the ticks piled up and starved the executors' pool.
    return bool(session.execute(_TRY_CLAIM_LOCK, {"key": CLAIM_LOCK_KEY}).scalar())


_TRY_CLAIM_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


def _claim(
    session: Session, now: datetime, ahead: timedelta, lease: timedelta, owner: str, limit: int
) -> list[Claim]:
    cutoff = now + ahead
    chosen, superseded = _choose(session, now, cutoff)
    chosen.sort(key=lambda r: (r.next_attempt_at, r.sequence, r.id))
    chosen = chosen[:limit]
    streams = {r.stream_id for r in chosen}
    superseded = [(old, new) for old, new in superseded if old.stream_id in streams]
    held = lock_in_state(session, [r.id for r in chosen] + [old.id for old, _ in superseded], PENDING)
    blocked = {r.stream_id for r in chosen if r.id not in held}
    blocked |= {old.stream_id for old, _ in superseded if old.id not in held}
    events: list[Event] = []
    for old, new in superseded:
        if old.stream_id not in blocked:
            _supersede(session, old, new, now, owner, events)
    free = [r for r in chosen if r.stream_id not in blocked]
    claims = _claim_all(session, free, now, lease, owner, events)
    insert_events(session, events)
    return claims


def _choose(
    session: Session, now: datetime, cutoff: datetime
) -> tuple[list[Row[Any]], list[tuple[Any, Any]]]:
    # One pass over the rows that can count, each stream's facts taken by window functions. (Subqueries
    # per stream made PostgreSQL pick nested loops on fresh statistics: 10 s for 10,000 pending rows.)
    # The rows that can count are the claimed ones and the pending ones due by the cutoff: the due and
    # the retrying ones that precede them (a row's next attempt is never before its due time). Any
    # other live row comes after every due row of its stream and changes none of their facts. Both are
    # ranges of the live rows' index by due time (migration 0016): a tick reads what it may act on,
    # not the whole horizon.
    columns = (
        actions.c.id,
        actions.c.stream_id,
        actions.c.kind,
        actions.c.due_at,
        actions.c.sequence,
        actions.c.attempts,
        actions.c.next_attempt_at,
        actions.c.state,
    )
    counted = union_all(
        select(*columns).where(IN_LIVE_INDEX, actions.c.state == PENDING, actions.c.due_at <= cutoff),
        select(*columns).where(IN_LIVE_INDEX, actions.c.state == CLAIMED),
    ).subquery()
    stream = counted.c.stream_id
    due_here = case((and_(counted.c.state == PENDING, counted.c.next_attempt_at <= cutoff), 1), else_=0)
    busy_here = case((counted.c.state == CLAIMED, 1), else_=0)
    ranked = select(
        *(counted.c[column.name] for column in columns if column.name != "state"),
        func.row_number()
        .over(partition_by=stream, order_by=(counted.c.due_at, counted.c.sequence, counted.c.id))
        .label("position"),
        func.max(due_here).over(partition_by=stream).label("stream_due"),
        func.max(busy_here).over(partition_by=stream).label("stream_busy"),
    ).subquery()
    rows = session.execute(
        select(ranked)
        # A stream with a claimed row has only pending rows otherwise, so positions count pending rows.
        .where(
            ranked.c.stream_due == 1,
            ranked.c.stream_busy == 0,
            or_(ranked.c.position == 1, ranked.c.due_at <= now),
        )
        .order_by(ranked.c.stream_id, ranked.c.position)
    ).all()
    chosen: list[Row[Any]] = []
    superseded: list[tuple[Any, Any]] = []
    for _stream, group in groupby(rows, key=lambda r: r.stream_id):
        line = list(group)
        first = line[0]
        for later in line[1:]:
            # `later` is due (only due rows follow the first); a retrying first row gives way to it
            # when the later action makes it pointless (never an update to the enable it needs).
            if first.attempts == 0 or not supersedes(later, first):
                break
            superseded.append((first, later))
            first = later
        if first.next_attempt_at <= cutoff:
            chosen.append(first)
    return chosen, superseded


def _supersede(session: Session, old: Any, new: Any, now: datetime, actor: str, events: list[Event]) -> None:
    outcome = f"superseded by action #{new.id}"
    result = session.execute(
        update(actions)
        .where(actions.c.id == old.id, actions.c.state == PENDING)
        .values(state=ActionState.SUPERSEDED.value, outcome=outcome, finished_at=now, updated_at=now)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        events.append(
            Event(
                old.id,
                old.stream_id,
                now,
                actor,
                "superseded",
                PENDING,
                ActionState.SUPERSEDED.value,
                detail=f"{outcome}, due {new.due_at.isoformat()}, while it was still retrying",
            )
        )


_CLAIM = (
    update(actions)
    .where(actions.c.id == bindparam("b_id"), actions.c.state == PENDING)
    .values(
        state=CLAIMED,
        lease_token=bindparam("b_token"),
        lease_owner=bindparam("b_owner"),
        lease_expires_at=bindparam("b_expires", type_=UTCDateTime()),
        updated_at=bindparam("b_now", type_=UTCDateTime()),
    )
)


_CLAIMED_TOKENS = select(actions.c.id, actions.c.lease_token).where(
    actions.c.id.in_(IDS), actions.c.state == CLAIMED
)


def _claim_all(
    session: Session, rows: list[Any], now: datetime, lease: timedelta, owner: str, events: list[Event]
) -> list[Claim]:
    """Claim the rows with one executemany (a fresh token each), then read back which of them carry
    the token this call wrote: only those are claims, whatever the row count says."""
    if not rows:
        return []
    tokens = {row.id: secrets.token_hex(16) for row in rows}
    expiry = {row.id: max(now, row.next_attempt_at) + lease for row in rows}
    session.connection().execute(
        _CLAIM,
        [
            {"b_id": r.id, "b_token": tokens[r.id], "b_owner": owner, "b_expires": expiry[r.id], "b_now": now}
            for r in rows
        ],
    )
    held: set[int] = set()
    for chunk in chunked([r.id for r in rows]):
        found = session.execute(_CLAIMED_TOKENS, {"ids": list(chunk)})
        held.update(i for i, token in found if token == tokens[i])
    claims = []
    for row in rows:
        if row.id not in held:
            continue
        events.append(
            Event(
                row.id,
                row.stream_id,
                now,
                owner,
                "claimed",
                PENDING,
                CLAIMED,
                attempt=row.attempts + 1,
                detail=f"lease until {expiry[row.id].isoformat()}",
            )
        )
        kind = ActionKind(row.kind)
        claims.append(Claim(row.id, tokens[row.id], row.stream_id, kind, row.due_at, row.next_attempt_at))
    return claims


def reclaim_expired(session: Session, now: datetime, actor: str = "reaper") -> int:
    """Claimed rows whose lease expired go back to pending, so a lost message or a dead worker loses
    nothing. The attempt count is unchanged: only attempts the executor recorded are counted."""
    now = ensure_utc(now)
    rows = session.execute(
        select(actions.c.id, actions.c.stream_id, actions.c.lease_owner, actions.c.lease_expires_at)
        .where(IN_LIVE_INDEX, actions.c.state == CLAIMED, actions.c.lease_expires_at < now)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0
    session.execute(
        update(actions)
        .where(
            actions.c.id.in_([r.id for r in rows]),
            actions.c.state == CLAIMED,
            actions.c.lease_expires_at < now,
        )
        .values(state=PENDING, lease_token=None, lease_owner=None, lease_expires_at=None, updated_at=now)
    )
    insert_events(
        session,
        (
            Event(
                r.id,
                r.stream_id,
                now,
                actor,
                "lease_expired",
                CLAIMED,
                PENDING,
                detail=f"lease held by {r.lease_owner} expired at {r.lease_expires_at.isoformat()}",
            )
            for r in rows
        ),
    )
    return len(rows)


_MARK_MISSED = (
    update(actions)
    .where(actions.c.id == bindparam("b_id"), actions.c.state == PENDING)
    .values(
        state=MISSED,
        outcome=bindparam("b_outcome"),
        finished_at=bindparam("b_now", type_=UTCDateTime()),
        updated_at=bindparam("b_now", type_=UTCDateTime()),
    )
)


def mark_missed(session: Session, now: datetime, actor: str = "dispatcher") -> list[MissedAction]:
    """Pending rows whose deadline has passed become missed, visibly; returns what was missed."""
    now = ensure_utc(now)
    rows = session.execute(
        select(actions.c.id, actions.c.stream_id, actions.c.kind, actions.c.deadline_at, actions.c.attempts)
        # A deadline is not before its due time, so this is a range of the live rows by due time
        # (migration 0016); a row planned with one before is marked missed when it falls due.
        .where(IN_LIVE_INDEX, actions.c.state == PENDING, actions.c.due_at <= now)
        .where(actions.c.deadline_at <= now)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    missed = [
        MissedAction(
            r.id,
            r.stream_id,
            r.kind,
            r.deadline_at,
            f"deadline passed at {r.deadline_at.isoformat()} before it could run"
            + (f" (after {r.attempts} failed attempts)" if r.attempts else ""),
        )
        for r in rows
    ]
    session.connection().execute(
        _MARK_MISSED, [{"b_id": m.id, "b_outcome": m.outcome, "b_now": now} for m in missed]
    )
    insert_events(
        session,
        (Event(m.id, m.stream_id, now, actor, "missed", PENDING, MISSED, detail=m.outcome) for m in missed),
    )
    return missed


def count_claimed(session: Session) -> int:
    """How many actions are claimed now: handed to workers and not finished."""
    found = session.execute(select(func.count()).where(IN_LIVE_INDEX, actions.c.state == CLAIMED)).scalar()
    return int(found or 0)


def streams_with_due(session: Session, stream_ids: Sequence[str], until: datetime) -> set[str]:
    """Those of the streams with a pending action due by `until` (to dispatch now, not next tick)."""
    found: set[str] = set()
    for chunk in chunked(sorted(set(stream_ids))):
        values = {"streams": list(chunk), "until": ensure_utc(until)}
        found.update(session.execute(_STREAMS_WITH_DUE, values).scalars())
    return found


_STREAMS_WITH_DUE = (
    select(actions.c.stream_id)
    .distinct()
    .where(
        IN_LIVE_INDEX,
        actions.c.stream_id.in_(bindparam("streams", expanding=True)),
        actions.c.state == PENDING,
        actions.c.next_attempt_at <= bindparam("until", type_=UTCDateTime()),
    )
)

"""Writes fenced by the lease token: a worker whose lease was reclaimed (or taken over) can no longer
change its action. Each write says WHERE id = :id AND state = 'claimed' AND lease_token = :token; when
that matches nothing, the write is refused and the refusal lands in the history as
"stale_write_rejected".

Attempts: `attempts` counts the executions that reached the FastPix API for this action. retry_later
adds one (it follows a failed call); record_attempts adds one for succeeded, failed and skipped (the
executor called the API, if only to read the stream) and none for missed. A worker killed mid-call
records no outcome; if it had written its `sending` record (record_intents, before the call left), the
next take-over counts that attempt (take_over, `in_doubt`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, bindparam, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.domain.attempts import Attempt, AttemptKind
from worker.domain.states import can_transition
from worker.domain.types import ActionState
from worker.store.events import Event, insert_events, record_event
from worker.store.sqlutil import IDS, actions, chunked, events_table
from worker.store.types import UTCDateTime

CLAIMED = ActionState.CLAIMED.value
FINISHING = frozenset(
    {
        ActionState.SUCCEEDED,
        ActionState.FAILED,
        ActionState.SKIPPED,
        ActionState.MISSED,
        ActionState.SUPERSEDED,
    }
)
# Finishes that count as an attempt: the executor called the API, if only to read the stream.
_COUNTED = frozenset({ActionState.SUCCEEDED, ActionState.FAILED, ActionState.SKIPPED})


def _fence(action_id: int, lease_token: str) -> Any:
    return (actions.c.id == action_id) & (actions.c.state == CLAIMED) & (actions.c.lease_token == lease_token)


def _fenced_update(
    session: Session, action_id: int, lease_token: str, values: dict[str, Any], *, what: str, now: datetime
) -> bool:
    result = session.execute(update(actions).where(_fence(action_id, lease_token)).values(**values))
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True
    _reject(session, action_id, what, now)
    return False


def _reject(session: Session, action_id: int, what: str, now: datetime) -> None:
    row = session.execute(
        select(actions.c.stream_id, actions.c.state, actions.c.lease_owner).where(actions.c.id == action_id)
    ).first()
    if row is None:
        return
    holder = f"; now {row.state}" + (f", held by {row.lease_owner}" if row.state == CLAIMED else "")
    record_event(
        session,
        action_id=action_id,
        stream_id=row.stream_id,
        actor="ledger",
        event="stale_write_rejected",
        from_state=row.state,
        to_state=row.state,
        detail=f"{what} refused: the lease it named is no longer the action's lease{holder}",
        now=now,
    )


# What an executor needs of an action it holds.
HELD_COLUMNS = (
    actions.c.id,
    actions.c.stream_id,
    actions.c.kind,
    actions.c.due_at,
    actions.c.deadline_at,
    actions.c.next_attempt_at,
    actions.c.attempts,
    actions.c.payload,
    actions.c.api_response,
    actions.c.lease_token,
    actions.c.lease_owner,
    actions.c.lease_expires_at,
)


SENDING = "sending"


@dataclass(frozen=True)
class Held:
    """An action this executor holds; `in_doubt`: the attempt whose call was sent (a `sending` event)
    and whose answer was never recorded (its worker died), already counted in `attempts`."""

    id: int
    stream_id: str
    kind: str
    due_at: datetime
    deadline_at: datetime
    next_attempt_at: datetime
    attempts: int
    payload: str | None
    api_response: str | None  # the metadata merge record of an update (domain.metadata)
    lease_token: str
    lease_owner: str | None
    lease_expires_at: datetime
    in_doubt: int | None = None


_SENT = (
    select(events_table.c.action_id, func.max(events_table.c.attempt))
    .where(events_table.c.action_id.in_(IDS), events_table.c.event == SENDING)
    .group_by(events_table.c.action_id)
)


def _count_in_doubt_sends(session: Session, rows: list[Any], now: datetime) -> list[Held]:
    """A `sending` event numbered past the recorded attempts is a call whose answer nobody recorded:
    it may have reached FastPix. Count it as an attempt now, so the next run is the next attempt and
    says so when it finds the work done."""
    sent: dict[int, int] = {}
    for chunk in chunked([row.id for row in rows]):
        found = session.execute(_SENT, {"ids": list(chunk)})
        sent.update({action_id: attempt for action_id, attempt in found if attempt is not None})
    held = []
    for row in rows:
        attempt = sent.get(row.id)
        in_doubt = attempt if attempt is not None and attempt > row.attempts else None
        if in_doubt is not None:
            session.execute(
                update(actions).where(actions.c.id == row.id).values(attempts=in_doubt, updated_at=now)
            )
        held.append(
            Held(
                **{**row._asdict(), "attempts": row.attempts if in_doubt is None else in_doubt},
                in_doubt=in_doubt,
            )
        )
    return held


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")
_INTEND = insert(events_table).from_select(
    ["action_id", "stream_id", "at", "actor", "event", "from_state", "to_state", "attempt", "detail"],
    select(
        actions.c.id,
        actions.c.stream_id,
        bindparam("b_now", type_=UTCDateTime()),
        bindparam("b_actor", type_=String()),
        literal(SENDING),
        actions.c.state,
        actions.c.state,
        bindparam("b_attempt", type_=Integer()),
        bindparam("b_detail", type_=String()),
    ).where(_fence(bindparam("b_id"), bindparam("b_token"))),  # type: ignore[arg-type]
)


@dataclass(frozen=True)
class Intent:
    """A call about to leave: the action, its attempt and what the `sending` event says."""

    action_id: int
    attempt: int
    detail: str


# The `sending` events one transaction wrote: which leases held when a group's write came up short.
_WRITTEN = select(events_table.c.action_id).where(
    events_table.c.action_id.in_(IDS),
    events_table.c.event == SENDING,
    events_table.c.at == bindparam("now", type_=UTCDateTime()),
    events_table.c.actor == bindparam("actor"),
)


def record_intents(
    session: Session, lease_token: str, intents: Sequence[Intent], *, now: datetime, actor: str
) -> set[int]:
    """Write-ahead: the `sending` events, written (and committed by the caller) before state-changing
    calls leave, so the history shows every act that may have reached FastPix even if the worker dies
    before the answer is recorded. One statement for the whole group (executemany), fenced row by row:
    the ids whose lease was still `lease_token`'s; the others got no event, and their calls must not
    leave."""
    if not intents:
        return set()
    now = ensure_utc(now)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Visible to every other session at once, like any commit; only a crash of PostgreSQL itself
        # in the next few hundred ms could lose it. What it guards against is the worker dying, and
        # the flush to disk (10+ ms on a busy server) would sit between the read and the act.
        connection.execute(_ASYNC_COMMIT)
    rows = [
        {
            "b_id": i.action_id,
            "b_token": lease_token,
            "b_now": now,
            "b_actor": actor,
            "b_attempt": i.attempt,
            "b_detail": i.detail,
        }
        for i in intents
    ]
    ids = [i.action_id for i in intents]
    if connection.execute(_INTEND, rows).rowcount == len(rows):
        return set(ids)
    # Some lease was gone (rare): the events this transaction wrote say which held.
    return {
        written
        for chunk in chunked(ids)
        for written in session.execute(_WRITTEN, {"ids": list(chunk), "now": now, "actor": actor}).scalars()
    }


# The fence and the time of a statement executed for many rows at once (executemany).
_NOW = bindparam("b_now", type_=UTCDateTime())
_BATCH_FENCE = _fence(bindparam("b_id"), bindparam("b_token"))  # type: ignore[arg-type]
_TAKE_OVER = (
    update(actions)
    .where(_BATCH_FENCE)
    .values(
        lease_token=bindparam("b_new"),
        lease_owner=bindparam("b_owner"),
        updated_at=_NOW,
    )
)


_HELD = select(*HELD_COLUMNS).where(
    actions.c.id.in_(IDS), actions.c.state == CLAIMED, actions.c.lease_token == bindparam("token")
)


def take_over(
    session: Session, leases: Sequence[tuple[int, str]], *, new_token: str, owner: str, now: datetime
) -> list[Held]:
    """Swap the dispatcher's lease tokens for the executor's own, for a whole batch at once, and hand
    back the rows now held. A duplicated or redelivered message finds its token gone: its row is not
    returned, and the refusal is recorded."""
    if not leases:
        return []
    now = ensure_utc(now)
    session.connection().execute(
        _TAKE_OVER,
        [{"b_id": i, "b_token": t, "b_new": new_token, "b_owner": owner, "b_now": now} for i, t in leases],
    )
    rows: list[Any] = []
    for chunk in chunked([i for i, _ in leases]):
        rows += session.execute(_HELD, {"ids": list(chunk), "token": new_token}).all()
    held = {row.id for row in rows}
    for action_id, _ in leases:
        if action_id not in held:
            _reject(session, action_id, "take over", now)
    rows = _count_in_doubt_sends(session, rows, now)
    insert_events(
        session,
        [
            Event(
                row.id,
                row.stream_id,
                now,
                owner,
                "taken_over",
                CLAIMED,
                CLAIMED,
                detail=f"executor {owner} holds the lease",
            )
            for row in rows
        ],
    )
    return rows


def renew(session: Session, action_ids: Sequence[int], lease_token: str, *, until: datetime) -> set[int]:
    """The executor's heartbeat: push the lease of the actions it still holds under `lease_token` out
    to at least `until` (never shorter: a claim made ahead of its instant already runs past it). The
    ids still held; an id missing from the answer was reclaimed, and its run must not act."""
    if not action_ids:
        return set()
    until = ensure_utc(until)
    held: set[int] = set()
    for chunk in chunked(sorted(set(action_ids))):
        mine = (
            (actions.c.id.in_(chunk)) & (actions.c.state == CLAIMED) & (actions.c.lease_token == lease_token)
        )
        result = session.execute(
            update(actions).where(mine, actions.c.lease_expires_at < until).values(lease_expires_at=until)
        )
        if result.rowcount == len(chunk):  # type: ignore[attr-defined]
            held.update(chunk)
        else:
            held.update(session.execute(select(actions.c.id).where(mine)).scalars())
    return held


_COMPLETE = (
    update(actions)
    .where(_BATCH_FENCE)
    .values(
        state=bindparam("b_state"),
        outcome=bindparam("b_outcome"),
        attempts=actions.c.attempts + bindparam("b_counted"),
        last_error=func.coalesce(bindparam("b_error", type_=String()), actions.c.last_error),
        lease_token=None,
        lease_expires_at=None,
        finished_at=_NOW,
        updated_at=_NOW,
    )
)


def record_attempts(
    session: Session, lease_token: str, attempts: Sequence[Attempt], *, now: datetime, actor: str = "executor"
) -> set[int]:
    """Write what the attempts made under one lease token came to: a DONE finishes its action (one
    statement for all of them), a RETRY puts its action back to pending for the next attempt; other
    kinds write nothing. The ids whose lease still held; the others are left alone and their refusal
    is recorded."""
    done = [a for a in attempts if a.kind is AttemptKind.DONE]
    for attempt in done:
        if attempt.state not in FINISHING or not can_transition(ActionState.CLAIMED, attempt.state):
            raise ValueError(
                f"an attempt finishes an action as one of {sorted(s.value for s in FINISHING)}, "
                f"not {attempt.state}"
            )
    now = ensure_utc(now)
    kept = _complete(session, lease_token, done, now, actor)
    for attempt in attempts:
        if attempt.kind is AttemptKind.RETRY:
            assert attempt.retry_at is not None
            error = attempt.error or attempt.detail
            if retry_later(
                session,
                attempt.action_id,
                lease_token,
                next_attempt_at=attempt.retry_at,
                error=error,
                now=now,
            ):
                kept.add(attempt.action_id)
    return kept


_LOCK_CLAIMED = (
    select(actions.c.id, actions.c.stream_id, actions.c.attempts, actions.c.lease_token)
    .where(actions.c.id.in_(IDS), actions.c.state == CLAIMED)
    .with_for_update()
)


def _complete(
    session: Session, lease_token: str, done: Sequence[Attempt], now: datetime, actor: str
) -> set[int]:
    if not done:
        return set()
    wanted = {a.action_id: a for a in done}
    held: dict[int, Any] = {}
    for chunk in chunked(list(wanted)):
        # Locked, so a reaper cannot take a lease back between this read and the update.
        for row in session.execute(_LOCK_CLAIMED, {"ids": list(chunk)}):
            if row.lease_token == lease_token:
                held[row.id] = row
    for attempt in done:
        if attempt.action_id not in held:
            assert attempt.state is not None
            _reject(session, attempt.action_id, f"completion as {attempt.state.value}", now)
    mine = [wanted[i] for i in held]
    if not mine:
        return set()
    counted = {a.action_id: 1 if a.state in _COUNTED else 0 for a in mine}
    session.connection().execute(
        _COMPLETE,
        [
            {
                "b_id": a.action_id,
                "b_token": lease_token,
                "b_state": a.state.value if a.state else None,
                "b_outcome": a.detail,
                "b_counted": counted[a.action_id],
                "b_error": a.error,
                "b_now": now,
            }
            for a in mine
        ],
    )
    insert_events(
        session,
        [
            Event(
                a.action_id,
                held[a.action_id].stream_id,
                now,
                actor,
                a.state.value if a.state else "",
                CLAIMED,
                a.state.value if a.state else "",
                attempt=held[a.action_id].attempts + counted[a.action_id],
                detail=a.detail if a.error is None else f"{a.detail}: {a.error}",
            )
            for a in mine
        ],
    )
    return set(held)


def note_api_response(
    session: Session, action_id: int, lease_token: str, text: str, *, now: datetime
) -> bool:
    """Store, on a held action, what its call will rest on (an UPDATE's merge record) before the call is
    sent, so a worker that dies mid-call loses nothing. False if the lease is stale."""
    now = ensure_utc(now)
    values = {"api_response": text, "updated_at": now}
    return _fenced_update(session, action_id, lease_token, values, what="merge record", now=now)


def retry_later(
    session: Session,
    action_id: int,
    lease_token: str,
    *,
    next_attempt_at: datetime,
    error: str,
    now: datetime,
    actor: str = "executor",
) -> bool:
    """Back to pending after a failed call, counted as one attempt, to run again at next_attempt_at."""
    now, when = ensure_utc(now), ensure_utc(next_attempt_at)
    attempts = session.execute(select(actions.c.attempts).where(_fence(action_id, lease_token))).scalar()
    attempt = (attempts or 0) + 1
    return _back_to_pending(
        session,
        action_id,
        lease_token,
        {"attempts": actions.c.attempts + 1, "next_attempt_at": when, "last_error": error},
        what="retry",
        event="retry_scheduled",
        attempt=attempt,
        detail=f"attempt {attempt} failed ({error}); next attempt at {when.isoformat()}",
        now=now,
        actor=actor,
    )


def release(
    session: Session, action_id: int, lease_token: str, *, now: datetime, actor: str = "dispatcher"
) -> bool:
    """Give a claim back at once, uncounted (its message could not be sent): pending again, same time."""
    return _back_to_pending(
        session,
        action_id,
        lease_token,
        {},
        what="release",
        event="released",
        attempt=None,
        detail="claim given back: the wake-up message could not be sent",
        now=ensure_utc(now),
        actor=actor,
    )


def _back_to_pending(
    session: Session,
    action_id: int,
    lease_token: str,
    changes: dict[str, Any],
    *,
    what: str,
    event: str,
    attempt: int | None,
    detail: str,
    now: datetime,
    actor: str,
) -> bool:
    """claimed -> pending with the lease cleared, fenced by the token, and the event recorded."""
    row = session.execute(select(actions.c.stream_id).where(_fence(action_id, lease_token))).first()
    values: dict[str, Any] = {
        "state": ActionState.PENDING.value,
        "lease_token": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
        **changes,
    }
    if not _fenced_update(session, action_id, lease_token, values, what=what, now=now):
        return False
    assert row is not None
    record_event(
        session,
        action_id=action_id,
        stream_id=row.stream_id,
        actor=actor,
        event=event,
        from_state=CLAIMED,
        to_state=ActionState.PENDING.value,
        attempt=attempt,
        detail=detail,
        now=now,
    )
    return True

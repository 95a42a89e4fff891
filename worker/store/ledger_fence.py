"""Writes fenced by the lease token: a worker whose lease was reclaimed (or taken over) can no longer
change its action. Each write says WHERE id = :id AND state = 'claimed' AND lease_token = :token; when
that matches nothing, the write is refused and the refusal lands in the history as
"stale_write_rejected".

Attempts: `attempts` counts the executions that reached the FastPix API for this action. retry_later
adds one (it follows a failed call); complete adds one for succeeded, failed and skipped (the executor
called the API, if only to read the stream) and none for missed and superseded, unless told otherwise
with `attempted`. A worker killed mid-call records nothing, so its attempt is not counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.domain.states import can_transition
from worker.domain.types import ActionState
from worker.store.events import record_event
from worker.store.models import Action
from worker.store.sqlutil import actions

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
_COUNTED_BY_DEFAULT = frozenset({ActionState.SUCCEEDED, ActionState.FAILED, ActionState.SKIPPED})


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


def load_claimed(session: Session, action_id: int, lease_token: str) -> Action | None:
    """The action, if it is still claimed under this lease; None otherwise (nothing is recorded)."""
    return session.execute(select(Action).where(_fence(action_id, lease_token))).scalar_one_or_none()


def take_over(
    session: Session,
    action_id: int,
    lease_token: str,
    *,
    new_token: str,
    owner: str,
    now: datetime,
    lease: timedelta | None = None,
) -> Action | None:
    """Swap the dispatcher's lease token for the executor's own. A duplicated or redelivered message
    finds its token gone and gets None. With `lease`, the lease is renewed from max(now, next attempt)."""
    now = ensure_utc(now)
    values: dict[str, Any] = {"lease_token": new_token, "lease_owner": owner, "updated_at": now}
    if lease is not None:
        current = session.execute(select(actions.c.next_attempt_at).where(actions.c.id == action_id)).scalar()
        values["lease_expires_at"] = max(now, current or now) + lease
    # One statement: the fenced swap hands back the row it swapped.
    action = session.scalars(
        update(Action).where(_fence(action_id, lease_token)).values(**values).returning(Action),
        execution_options={"synchronize_session": False},
    ).one_or_none()
    if action is None:
        _reject(session, action_id, "take over", now)
    else:
        record_event(
            session,
            action_id=action_id,
            stream_id=action.stream_id,
            actor=owner,
            event="taken_over",
            from_state=CLAIMED,
            to_state=CLAIMED,
            detail=f"executor {owner} holds the lease",
            now=now,
        )
    return action


def complete(
    session: Session,
    action_id: int,
    lease_token: str,
    *,
    state: ActionState,
    outcome: str,
    error: str | None,
    api_response: str | None,
    now: datetime,
    attempted: bool | None = None,
    actor: str = "executor",
) -> bool:
    """Finish a claimed action (succeeded/failed/skipped/missed/superseded). False if the lease is stale."""
    state = ActionState(state)
    if state not in FINISHING or not can_transition(ActionState.CLAIMED, state):
        raise ValueError(
            f"complete() finishes an action as one of {sorted(s.value for s in FINISHING)}, not {state}"
        )
    now = ensure_utc(now)
    counted = state in _COUNTED_BY_DEFAULT if attempted is None else attempted
    values: dict[str, Any] = {
        "state": state.value,
        "outcome": outcome,
        "api_response": api_response,
        "attempts": actions.c.attempts + (1 if counted else 0),
        "lease_token": None,
        "lease_expires_at": None,
        "finished_at": now,
        "updated_at": now,
    }
    if error is not None:
        values["last_error"] = error
    row = session.execute(
        update(actions)
        .where(_fence(action_id, lease_token))
        .values(**values)
        .returning(actions.c.stream_id, actions.c.attempts)
    ).first()
    if row is None:
        _reject(session, action_id, f"completion as {state.value}", now)
        return False
    record_event(
        session,
        action_id=action_id,
        stream_id=row.stream_id,
        actor=actor,
        event=state.value,
        from_state=CLAIMED,
        to_state=state.value,
        attempt=row.attempts,  # as updated
        detail=outcome if error is None else f"{outcome}: {error}",
        now=now,
    )
    return True


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

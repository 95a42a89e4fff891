"""Bringing a finished action back to pending, at a person's request: `onair action retry` (a failed or
missed action) and a stream's resume (the actions its pause skipped). The next run is the action's
next attempt, so its history stays one story; the event says who asked and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.domain.types import ActionKind, ActionState, Source
from worker.store.events import record_event
from worker.store.models import Action, Broadcast


def find_action(session: Session, action_id: int) -> Action | None:
    return session.get(Action, action_id)


def rerun(
    session: Session,
    action: Action,
    *,
    deadline_at: datetime,
    now: datetime,
    actor: str,
    event: str,
    detail: str,
) -> bool:
    """`action` (finished, in the state it was read in) pending again now, with a new deadline; False
    when its state changed meanwhile (nothing written)."""
    now = ensure_utc(now)
    changed = session.execute(
        update(Action)
        .where(Action.id == action.id, Action.state == action.state)
        .values(
            state=ActionState.PENDING.value,
            next_attempt_at=now,
            deadline_at=ensure_utc(deadline_at),
            lease_token=None,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    record_event(
        session,
        action_id=action.id,
        stream_id=action.stream_id,
        actor=actor,
        event=event,
        from_state=action.state,
        to_state=ActionState.PENDING.value,
        attempt=action.attempts + 1,
        detail=detail,
        now=now,
    )
    return True


def slot_of(session: Session, action: Action) -> tuple[Broadcast, datetime | None] | None:
    """The broadcast a broadcast action serves, and the start of the next slot on its stream; None for
    an off-hours action (or a broadcast row deleted since)."""
    if action.source != Source.BROADCAST.value or action.source_id is None:
        return None
    row = session.get(Broadcast, action.source_id)
    if row is None:
        return None
    following = session.scalars(
        select(Broadcast.slot_starts_at)
        .where(
            Broadcast.stream_id == row.stream_id,
            Broadcast.cancelled_at.is_(None),
            Broadcast.id != row.id,
            Broadcast.slot_starts_at >= row.ends_at,
        )
        .order_by(Broadcast.slot_starts_at)
        .limit(1)
    ).first()
    return row, following


def later_succeeded(session: Session, action: Action) -> list[Action]:
    """Acts on the same stream due after this one that have succeeded since, in due order."""
    return list(
        session.scalars(
            select(Action)
            .where(
                Action.stream_id == action.stream_id,
                Action.due_at >= action.due_at,
                Action.id != action.id,
                Action.state == ActionState.SUCCEEDED.value,
                Action.kind.in_([k.value for k in ActionKind]),
            )
            .order_by(Action.due_at, Action.sequence)
        )
    )

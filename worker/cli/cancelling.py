"""Cancelling one schedule row from the command line, shared by `onair broadcast cancel`,
`onair book cancel`, `onair offhours remove` and `onair series cancel`: cancelling twice is no error
(the second says when the first happened), the planner runs at once, and the operator is told which
planned actions it cancelled and which were already under way (those run to their end)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update

from worker.cli import output
from worker.cli.timeline import replan
from worker.config import OnairSettings
from worker.domain.types import ActionState, Source
from worker.store.db import transaction
from worker.store.models import Action, Broadcast, BroadcastSeries, OffHours


def mark_cancelled(
    engine: Engine,
    row: Broadcast | OffHours | BroadcastSeries,
    *,
    what: str,
    now: datetime,
    verb: str = "cancelled",
) -> bool:
    """Set the row's cancelled_at; False, and says so, when it was already set."""
    if row.cancelled_at is not None:
        output.info(f"{what} was already {verb} at {row.cancelled_at.isoformat()}")
        return False
    model = type(row)
    with transaction(engine) as session:
        session.execute(
            update(model)
            .where(model.id == row.id, model.cancelled_at.is_(None))
            .values(cancelled_at=now, updated_at=now)
        )
    return True


def cancel_outcome(
    engine: Engine, source: Source, source_id: int, settings: OnairSettings
) -> tuple[int, int]:
    """Re-plan after a cancellation: (actions the planner cancelled, actions under way it had to leave)."""
    with transaction(engine, immediate=False) as session:
        pending = set(
            session.scalars(
                select(Action.id).where(
                    Action.source == source.value,
                    Action.source_id == source_id,
                    Action.state == ActionState.PENDING.value,
                )
            )
        )
    replan(settings, engine)
    with transaction(engine, immediate=False) as session:
        states = [
            state
            for action_id, state in session.execute(
                select(Action.id, Action.state).where(
                    Action.source == source.value, Action.source_id == source_id
                )
            )
            if action_id in pending or state == ActionState.CLAIMED.value
        ]
    return states.count(ActionState.CANCELLED.value), states.count(ActionState.CLAIMED.value)


def say_cancelled(head: str, cancelled: int, running: int) -> None:
    """`<head>; N planned actions cancelled`, and a second line when some were already under way."""
    output.info(f"{head}; {counted(cancelled, 'planned action')} cancelled")
    if running:
        output.info(f"{counted(running, 'action')} already under way will run to its end")


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"

"""What a cancellation did to the ledger, shared by `onair broadcast cancel`, `onair book cancel` and
`onair offhours remove`: the planner runs at once, and the operator is told which planned actions it
cancelled and which were already under way (those run to their end)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from worker.cli.timeline import replan
from worker.config import OnairSettings
from worker.domain.types import ActionState, Source
from worker.store.db import transaction
from worker.store.models import Action


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


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"

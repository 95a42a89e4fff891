"""Each broadcast's outcome (worker.domain.outcomes) from its rows in the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from worker.domain.causes import describe_failure
from worker.domain.outcomes import Act, BroadcastFacts, Verdict, broadcast_outcome
from worker.domain.types import ActionKind, ActionState
from worker.store import observations
from worker.store.models import Action, Broadcast


def act_of(row: Action) -> Act:
    state = ActionState(row.state)
    failed = state in (ActionState.FAILED, ActionState.MISSED)
    why = describe_failure(row.state, row.outcome, row.last_error) if failed else None
    return Act(ActionKind(row.kind), state, row.due_at, why)


def verdict(row: Broadcast, actions: Sequence[Action], now: datetime) -> Verdict:
    facts = BroadcastFacts(
        row.starts_at, row.ends_at, row.cancelled_at is not None, [act_of(a) for a in actions]
    )
    return broadcast_outcome(facts, now)


def verdicts(session: Session, rows: Sequence[Broadcast], now: datetime) -> dict[int, Verdict]:
    actions = observations.actions_of_broadcasts(session, [r.id for r in rows])
    return {r.id: verdict(r, actions[r.id], now) for r in rows}

"""Each broadcast's outcome (worker.domain.outcomes) from its rows in the ledger and, where onair has
them, its stream's reported statuses (webhooks, or polls where none came: worker.store.webhooks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from worker.config import onair_settings
from worker.domain.causes import describe_failure
from worker.domain.outcomes import Act, BroadcastFacts, Verdict, broadcast_outcome
from worker.domain.signal import Report, carried_in
from worker.domain.types import ActionKind, ActionState
from worker.store import observations, webhooks
from worker.store.models import Action, Broadcast


def act_of(row: Action) -> Act:
    state = ActionState(row.state)
    failed = state in (ActionState.FAILED, ActionState.MISSED)
    why = describe_failure(row.state, row.outcome, row.last_error) if failed else None
    return Act(ActionKind(row.kind), state, row.due_at, why)


def verdict(
    row: Broadcast, actions: Sequence[Action], now: datetime, signal: Sequence[Report] | None = None
) -> Verdict:
    """`signal`: the stream's reports around the slot (signals_of); None: the ledger alone."""
    facts = BroadcastFacts(
        row.starts_at,
        row.ends_at,
        row.cancelled_at is not None,
        [act_of(a) for a in actions],
        signal=signal,
        grace=timedelta(seconds=onair_settings().no_signal_grace),
    )
    return broadcast_outcome(facts, now)


def signals_of(session: Session, rows: Sequence[Broadcast]) -> dict[int, list[Report] | None]:
    """Per broadcast, its stream's reports from the day before its start to its end; None when
    there are none in its slot or just before it (the signal is unknown: no webhooks, no polls)."""
    if not rows:
        return {}
    since = min(r.starts_at for r in rows)
    until = max(r.ends_at for r in rows)
    found = webhooks.reports(session, {r.stream_id for r in rows}, since, until)
    return {r.id: _around(found[r.stream_id], r) for r in rows}


def _around(reports: Sequence[Report], row: Broadcast) -> list[Report] | None:
    before = carried_in([p for p in reports if p.at >= row.starts_at - webhooks.LOOKBACK], row.starts_at)
    inside = [p for p in reports if row.starts_at <= p.at < row.ends_at]
    return before + inside or None


def verdicts(session: Session, rows: Sequence[Broadcast], now: datetime) -> dict[int, Verdict]:
    actions = observations.actions_of_broadcasts(session, [r.id for r in rows])
    signals: Mapping[int, list[Report] | None] = signals_of(session, rows)
    return {r.id: verdict(r, actions[r.id], now, signals[r.id]) for r in rows}

"""What happened to a broadcast, derived from its actions in the ledger. Pure: takes `now`.

    scheduled   nothing done yet (its enable is still to come, or retrying)
    enabled     the enable succeeded; the slot has not started
    live        enabled and inside its slot (what the ledger knows; FastPix webhooks may refine it)
    finished    its slot is over and its enable had succeeded
    failed      an action gave up; `cause` says which and why
    missed      an action's deadline passed before it could run
    cancelled   cancelled before it ended

The facts come as one value (BroadcastFacts), so a later source of truth, such as the stream's
webhook signal (live / interrupted / no signal), is one more field and one more rule, not a new
signature at every caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from worker.domain.types import ActionKind, ActionState


class Outcome(StrEnum):
    SCHEDULED = "scheduled"
    ENABLED = "enabled"
    LIVE = "live"
    FINISHED = "finished"
    FAILED = "failed"
    MISSED = "missed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Act:
    """One of the broadcast's actions: its kind, state and, when it failed or was missed, why."""

    kind: ActionKind
    state: ActionState
    due_at: datetime
    why: str | None = None


@dataclass(frozen=True)
class BroadcastFacts:
    starts_at: datetime
    ends_at: datetime
    cancelled: bool
    acts: Sequence[Act]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    cause: str | None = None

    @property
    def text(self) -> str:
        return f"{self.outcome.value} ({self.cause})" if self.cause else self.outcome.value


def broadcast_outcome(facts: BroadcastFacts, now: datetime) -> Verdict:
    if facts.cancelled:
        return Verdict(Outcome.CANCELLED)
    # Acts that a later edit or a newer action replaced say nothing about this broadcast.
    acts = [a for a in facts.acts if a.state not in (ActionState.CANCELLED, ActionState.SUPERSEDED)]
    for bad in (ActionState.FAILED, ActionState.MISSED):
        hit = next((a for a in acts if a.state is bad), None)
        if hit is not None:
            outcome = Outcome.FAILED if bad is ActionState.FAILED else Outcome.MISSED
            return Verdict(outcome, f"{hit.kind.value}: {hit.why}" if hit.why else hit.kind.value)
    enabled = any(a.kind is ActionKind.ENABLE and a.state is ActionState.SUCCEEDED for a in acts)
    if not enabled:
        return (
            Verdict(Outcome.MISSED, "never enabled") if now >= facts.ends_at else Verdict(Outcome.SCHEDULED)
        )
    finish = any(a.kind is ActionKind.FINISH and a.state is ActionState.SUCCEEDED for a in acts)
    if finish or now >= facts.ends_at:
        return Verdict(Outcome.FINISHED)
    return Verdict(Outcome.LIVE if now >= facts.starts_at else Outcome.ENABLED)

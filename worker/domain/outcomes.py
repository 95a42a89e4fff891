"""What happened to a broadcast, derived from its actions in the ledger. Pure: takes `now`.

    scheduled   nothing done yet (its enable is still to come, or retrying)
    enabled     the enable succeeded; the slot has not started
    live        enabled and inside its slot (with the stream's signal known: and the stream is active)
    interrupted the stream was active in the slot and left `active` (now, or at some point of a slot
                that is over)
    no signal   the stream has not been active since the start (ONAIR_NO_SIGNAL_GRACE after it), or
                never was in a slot that is over
    finished    its slot is over and its enable had succeeded (and, when the signal is known, the
                stream was live without a break)
    failed      an action gave up; `cause` says which and why
    missed      an action's deadline passed before it could run
    cancelled   cancelled before it ended

The facts come as one value (BroadcastFacts). `signal` is the stream's reported statuses
(worker.domain.signal: webhooks, or a GET where none came); None when onair has none, and then the
outcome is the ledger's alone. With a signal the verdict also gives the minutes the stream was live
within the slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from worker.domain.signal import Report, signal_health
from worker.domain.types import ActionKind, ActionState

DEFAULT_GRACE = timedelta(seconds=60)


class Outcome(StrEnum):
    SCHEDULED = "scheduled"
    ENABLED = "enabled"
    LIVE = "live"
    INTERRUPTED = "interrupted"
    NO_SIGNAL = "no signal"
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
    signal: Sequence[Report] | None = None
    grace: timedelta = DEFAULT_GRACE


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    cause: str | None = None
    # Minutes the stream was active within the slot (so far); None when its signal is unknown.
    live_minutes: float | None = None

    @property
    def text(self) -> str:
        text = f"{self.outcome.value} ({self.cause})" if self.cause else self.outcome.value
        return text if self.live_minutes is None else f"{text}, live {self.live_minutes:.0f} min"


def broadcast_outcome(facts: BroadcastFacts, now: datetime) -> Verdict:
    if facts.cancelled:
        return Verdict(Outcome.CANCELLED)
    # Acts that a later edit or a newer action replaced say nothing about this broadcast, nor does the
    # disable after it (the stream's between-slots policy: it has its own alert and history).
    acts = [
        a
        for a in facts.acts
        if a.state not in (ActionState.CANCELLED, ActionState.SUPERSEDED) and a.kind is not ActionKind.DISABLE
    ]
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
    over = finish or now >= facts.ends_at
    if facts.signal is None or now < facts.starts_at:
        if over:
            return Verdict(Outcome.FINISHED)
        return Verdict(Outcome.LIVE if now >= facts.starts_at else Outcome.ENABLED)
    return _by_signal(facts, now, over)


def _by_signal(facts: BroadcastFacts, now: datetime, over: bool) -> Verdict:
    assert facts.signal is not None
    health = signal_health(facts.signal, facts.starts_at, facts.ends_at, facts.grace, now)
    minutes = round(health.live_seconds / 60, 1)
    if over:
        if not health.ever_active:
            return Verdict(Outcome.NO_SIGNAL, live_minutes=minutes)
        return Verdict(Outcome.INTERRUPTED if health.interrupted else Outcome.FINISHED, live_minutes=minutes)
    if health.active_now:
        return Verdict(Outcome.LIVE, live_minutes=minutes)
    if health.ever_active:
        return Verdict(Outcome.INTERRUPTED, live_minutes=minutes)
    if health.no_signal:
        return Verdict(Outcome.NO_SIGNAL, live_minutes=minutes)
    return Verdict(Outcome.ENABLED, live_minutes=minutes)  # waiting for the encoder, within the grace

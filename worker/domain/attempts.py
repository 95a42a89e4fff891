"""What one attempt at an action came to, as one value with an explicit kind. The executor builds it,
the ledger writes it (a DONE finishes the action, a RETRY puts it back to pending), and metrics,
alerts and the task's log line read it. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from worker.domain.causes import FailureCause
from worker.domain.types import ActionState


class AttemptKind(StrEnum):
    DONE = "done"  # the action ended: `state` says how (succeeded, failed, skipped, missed)
    RETRY = "retry"  # the call failed transiently: pending again, next attempt at `retry_at`
    STALE = "stale"  # the message named a lease that is no longer the action's: nothing was done
    LEASE_LOST = "lease_lost"  # another worker took the action over: this attempt did not act, or
    # its outcome was refused by the fence
    BROKE = "broke"  # a bug in the executor: the lease runs out and the action runs again


STALE_DETAIL = "stale message: the action is no longer held by this lease"
LOST_BEFORE_ACTING = "lease lost before acting: another worker owns the action"
LOST_BEFORE_RECORDING = "lease lost: a newer attempt owns this action"
BROKE_DETAIL = "executor error: see the worker log"


@dataclass(frozen=True)
class Attempt:
    action_id: int
    kind: AttemptKind
    detail: str
    state: ActionState | None = None  # DONE only
    error: str | None = None  # FastPix's answer (or the wire's failure) when the call failed
    retry_at: datetime | None = None  # RETRY only
    cause: FailureCause | None = None  # set when the action gives up: what failed, and the rule
    # Another action on the same stream is due now: dispatch it at once rather than on the next tick.
    follow_up: bool = False

    @classmethod
    def done(
        cls,
        action_id: int,
        state: ActionState,
        detail: str,
        error: str | None = None,
        cause: FailureCause | None = None,
    ) -> Attempt:
        return cls(action_id, AttemptKind.DONE, detail, state, error, cause=cause)

    @classmethod
    def retry(cls, action_id: int, when: datetime, error: str) -> Attempt:
        return cls(
            action_id, AttemptKind.RETRY, f"retry at {when.isoformat()}: {error}", error=error, retry_at=when
        )

    @classmethod
    def stale(cls, action_id: int) -> Attempt:
        return cls(action_id, AttemptKind.STALE, STALE_DETAIL)

    @classmethod
    def lease_lost(cls, action_id: int, detail: str = LOST_BEFORE_ACTING) -> Attempt:
        return cls(action_id, AttemptKind.LEASE_LOST, detail)

    @classmethod
    def broke(cls, action_id: int) -> Attempt:
        return cls(action_id, AttemptKind.BROKE, BROKE_DETAIL)

    @property
    def written(self) -> bool:
        """Whether the ledger has something to write for it (an outcome, or a retry)."""
        return self.kind in (AttemptKind.DONE, AttemptKind.RETRY)

    def refused(self) -> Attempt:
        """The same attempt, its write refused by the fence: another worker owns the action now."""
        return replace(self, kind=AttemptKind.LEASE_LOST, detail=LOST_BEFORE_RECORDING, state=None)

    def following(self, busy: bool) -> Attempt:
        return replace(self, follow_up=busy) if busy != self.follow_up else self

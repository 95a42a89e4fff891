"""An operator's retry of one action that failed or was missed: whether it is still useful, and the
deadline it runs by.

The state machine keeps failed and missed final for onair itself; only a person brings such an action
back (as the next attempt of the same action, so its history stays one story). It is useful while the
slot it serves is: an enable or metadata update until the broadcast ends, a finish or restore until
the finish deadline (the next slot on the stream, at most an hour after the end), an off-hours act
until its own deadline. A cancelled broadcast, or a later act on the stream that has since made this
one pointless (`decisions.supersedes`), refuses it with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from worker.domain.deadlines import broadcast_enable_deadline, finish_deadline
from worker.domain.types import ActionKind, ActionState

RETRYABLE_STATES = frozenset({ActionState.FAILED, ActionState.MISSED})


@dataclass(frozen=True)
class Slot:
    """The broadcast an action serves, as it is now (it may have moved since the action was planned)."""

    ends_at: datetime
    next_slot_start: datetime | None
    cancelled: bool = False


@dataclass(frozen=True)
class Rerun:
    deadline_at: datetime


@dataclass(frozen=True)
class NotUseful:
    reason: str


def judge_retry(
    kind: str,
    state: str,
    *,
    now: datetime,
    stored_deadline: datetime,
    slot: Slot | None,
    superseded_by: str | None = None,
) -> Rerun | NotUseful:
    """Whether a retry asked at `now` can run, and by when. `slot` is None for an off-hours action (its
    stored deadline is the window's), `superseded_by` names a later act that made this one pointless."""
    if ActionState(state) not in RETRYABLE_STATES:
        return NotUseful(f"it is {state}: only a failed or missed action can be retried")
    if slot is not None and slot.cancelled:
        return NotUseful("its broadcast was cancelled")
    if superseded_by is not None:
        return NotUseful(f"{superseded_by} has run since and made it pointless")
    kind = ActionKind(kind)
    if slot is None:
        deadline = stored_deadline
    elif kind in (ActionKind.ENABLE, ActionKind.UPDATE):
        deadline = broadcast_enable_deadline(slot.ends_at)
    else:
        deadline = finish_deadline(slot.ends_at, slot.next_slot_start)
    if deadline <= now:
        return NotUseful(
            f"no longer useful: its deadline {deadline:%Y-%m-%d %H:%M:%S} UTC has passed "
            f"({_WHY_DEADLINE[kind] if slot is not None else 'the off-hours window is over'})"
        )
    return Rerun(deadline)


_WHY_DEADLINE = {
    ActionKind.ENABLE: "the broadcast has ended",
    ActionKind.UPDATE: "the broadcast has ended",
    ActionKind.FINISH: "finishing now could end the next broadcast or something nobody scheduled",
    ActionKind.RESTORE: "the next broadcast's metadata must not be overwritten",
    ActionKind.DISABLE: "the off-hours window is over",
}

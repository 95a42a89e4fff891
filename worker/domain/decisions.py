"""Check-then-act, as values: what to do given the stream's observed status, and what an error means.

`decide` looks at the status read just before acting and returns either the call to make (the endpoint,
which the executor sends as it is, and its body) or a NoOp with its final state, so an action that is
already in effect is never repeated. An unknown status leads to the call: FastPix is the authority, and
`interpret_error` turns its refusal into an outcome.

An UPDATE merges the broadcast's metadata into the stream's and a RESTORE puts it back (the rules are
in `worker.domain.metadata`); both need the stream's metadata as read, and the merge's record.

`supersedes` decides when a later action on a stream makes an earlier one, still retrying, pointless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from worker.domain.metadata import MergeRecord, MergeRefused, merge, restore
from worker.domain.pauses import Pause, skipped_outcome
from worker.domain.types import KIND_SEQUENCE, ActionKind, ActionState

ENABLED_STATUSES = frozenset({"idle", "preparing", "active"})
DISABLED = "disabled"

ALREADY_ENABLED = "already enabled"
ALREADY_DISABLED = "already disabled"
NOT_LIVE_AT_END = "not live at end"
UPDATE_REFUSED_DISABLED = "stream is disabled; metadata not applied"
RESTORE_REFUSED_DISABLED = "stream is disabled; metadata not restored"
NEVER_MERGED = "the broadcast's metadata was never applied: nothing to put back"
ALREADY_RESTORED = "metadata already as before the broadcast"

_NOT_COMPLETABLE = re.compile(r"cannot be completed|only active streams", re.IGNORECASE)
_DISABLED_WORDING = re.compile(r"\bdisabled\b", re.IGNORECASE)


class Endpoint(StrEnum):
    ENABLE = "PUT /live/streams/{streamId}/live-enable"
    DISABLE = "PUT /live/streams/{streamId}/live-disable"
    FINISH = "PUT /live/streams/{streamId}/finish"
    UPDATE = "PATCH /live/streams/{streamId}"


_ENDPOINTS = {
    ActionKind.ENABLE: Endpoint.ENABLE,
    ActionKind.DISABLE: Endpoint.DISABLE,
    ActionKind.FINISH: Endpoint.FINISH,
    ActionKind.UPDATE: Endpoint.UPDATE,
    ActionKind.RESTORE: Endpoint.UPDATE,
}
_REFUSED_DISABLED = {
    ActionKind.UPDATE: UPDATE_REFUSED_DISABLED,
    ActionKind.RESTORE: RESTORE_REFUSED_DISABLED,
}


@dataclass(frozen=True)
class Call:
    endpoint: Endpoint
    payload: dict[str, Any] | None = None
    # An UPDATE's merge: to be stored before the call, for the RESTORE at the broadcast's end.
    record: MergeRecord | None = None


@dataclass(frozen=True)
class NoOp:
    outcome: str
    state: ActionState


def decide(
    kind: ActionKind,
    observed_status: str,
    payload: dict[str, Any] | None,
    *,
    metadata: dict[str, str] | None = None,
    record: MergeRecord | None = None,
) -> Call | NoOp:
    """`metadata` is the stream's as read with its status. `record` is the merge stored for this
    broadcast: for an UPDATE, by an earlier attempt (its `before` is the stream as it was before any of
    them); for a RESTORE, by the broadcast's UPDATE."""
    kind = ActionKind(kind)
    status = observed_status.strip().lower()
    if kind is ActionKind.ENABLE:
        if status in ENABLED_STATUSES:
            return NoOp(ALREADY_ENABLED, ActionState.SUCCEEDED)
    elif kind is ActionKind.DISABLE:
        if status == DISABLED:
            return NoOp(ALREADY_DISABLED, ActionState.SUCCEEDED)
    elif kind is ActionKind.FINISH:
        if status in ("idle", DISABLED):
            return NoOp(NOT_LIVE_AT_END, ActionState.SKIPPED)
    elif kind is ActionKind.UPDATE:
        if not payload:
            return NoOp("nothing to update", ActionState.SKIPPED)
        # FastPix refuses PATCH on a disabled stream. Sequenced after the broadcast's enable, this only
        # happens when that enable failed or someone disabled the stream: worth an alert, not a retry.
        if status == DISABLED:
            return NoOp(UPDATE_REFUSED_DISABLED, ActionState.FAILED)
        return _merge_call(payload, metadata or {}, record)
    else:
        if record is None:
            return NoOp(NEVER_MERGED, ActionState.SKIPPED)
        current = metadata or {}
        target = restore(current, record)
        if target == current:
            return NoOp(ALREADY_RESTORED, ActionState.SUCCEEDED)
        # Checked after the comparison: a disabled stream already as it was needs nothing.
        if status == DISABLED:
            return NoOp(RESTORE_REFUSED_DISABLED, ActionState.FAILED)
        return Call(Endpoint.UPDATE, {"metadata": target})
    return Call(_ENDPOINTS[kind])


def paused(pause: Pause) -> NoOp:
    """An action due while an operator has its stream paused: no act at all, skipped with the note."""
    return NoOp(skipped_outcome(pause.note), ActionState.SKIPPED)


def _merge_call(payload: dict[str, Any], current: dict[str, str], record: MergeRecord | None) -> Call | NoOp:
    wanted = payload.get("metadata")
    if not wanted:
        return Call(Endpoint.UPDATE, dict(payload))
    try:
        merged = merge(current, wanted)
    except MergeRefused as refused:
        return NoOp(str(refused), ActionState.FAILED)
    before = record.before if record is not None else dict(current)
    return Call(Endpoint.UPDATE, {**payload, "metadata": merged}, MergeRecord(before, dict(wanted)))


def interpret_error(kind: ActionKind, classification: str, message: str) -> NoOp:
    """How an action ends when FastPix refused its call for good: `classification` is permanent |
    already_in_state (a transient error is the retry policy's, worker.domain.retry). The refusal
    changes nothing on the stream, so the answer is a NoOp with the action's final state."""
    kind = ActionKind(kind)
    if classification == "already_in_state":
        if kind is ActionKind.ENABLE:
            return NoOp(ALREADY_ENABLED, ActionState.SUCCEEDED)
        if kind is ActionKind.DISABLE:
            return NoOp(ALREADY_DISABLED, ActionState.SUCCEEDED)
    if kind is ActionKind.FINISH and (
        _NOT_COMPLETABLE.search(message) or classification == "already_in_state"
    ):
        return NoOp(NOT_LIVE_AT_END, ActionState.SKIPPED)
    if kind in _REFUSED_DISABLED and _DISABLED_WORDING.search(message):
        return NoOp(f"{_REFUSED_DISABLED[kind]}: {message}", ActionState.FAILED)
    return NoOp(message, ActionState.FAILED)


class ActionLike(Protocol):
    @property
    def stream_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def due_at(self) -> datetime: ...


# What a later action makes pointless. A disable ends a live broadcast and refuses metadata, so it
# outranks everything; an enable undoes a disable and must not be followed by a stale finish that
# would end the next broadcast; a finish ends the slot the earlier enable/update were for; newer
# metadata replaces older. An update never outranks the enable it needs. Nothing but a disable (after
# which FastPix refuses the PATCH) outranks a restore: the next broadcast's merge must come after it.
SUPERSEDES: dict[ActionKind, frozenset[ActionKind]] = {
    ActionKind.DISABLE: frozenset(ActionKind),
    ActionKind.ENABLE: frozenset({ActionKind.ENABLE, ActionKind.DISABLE, ActionKind.FINISH}),
    ActionKind.FINISH: frozenset({ActionKind.ENABLE, ActionKind.FINISH, ActionKind.UPDATE}),
    ActionKind.UPDATE: frozenset({ActionKind.UPDATE}),
    ActionKind.RESTORE: frozenset(),
}


def _order(action: ActionLike) -> tuple[datetime, int]:
    return action.due_at, KIND_SEQUENCE[ActionKind(action.kind)]


def supersedes(later: ActionLike, earlier: ActionLike) -> bool:
    """True if `later` (same stream, after `earlier` in (due_at, sequence) order) makes `earlier` moot.

    Meant for an earlier action still retrying when the later one falls due: the stream's single
    timeline moves on instead of waiting behind a call that no longer matters.
    """
    if later.stream_id != earlier.stream_id or _order(later) <= _order(earlier):
        return False
    return ActionKind(earlier.kind) in SUPERSEDES[ActionKind(later.kind)]

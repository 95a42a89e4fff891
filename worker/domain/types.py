"""Values shared by the planner, the ledger and the executor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ActionKind(StrEnum):
    ENABLE = "enable"
    DISABLE = "disable"
    FINISH = "finish"
    UPDATE = "update"
    # Put back the stream's metadata a broadcast's UPDATE changed.
    RESTORE = "restore"


# Several actions due at the same instant on one stream apply in this order: a broadcast's metadata is
# put back after its finish, before a disable (FastPix refuses PATCH on a disabled stream) and before
# the next broadcast's enable and merge.
KIND_SEQUENCE = {
    ActionKind.FINISH: 0,
    ActionKind.RESTORE: 1,
    ActionKind.DISABLE: 2,
    ActionKind.ENABLE: 3,
    ActionKind.UPDATE: 4,
}


class ActionState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset(
    {
        ActionState.SUCCEEDED,
        ActionState.FAILED,
        ActionState.SKIPPED,
        ActionState.MISSED,
        ActionState.SUPERSEDED,
        ActionState.CANCELLED,
    }
)


class Source(StrEnum):
    BROADCAST = "broadcast"
    OFF_HOURS = "off_hours"


@dataclass(frozen=True)
class PlannedAction:
    """What the planner wants in the ledger. `key` is the idempotency key: stable across ticks."""

    key: str
    stream_id: str
    kind: ActionKind
    source: Source
    source_id: int
    due_at: datetime
    deadline_at: datetime
    reason: str
    payload: dict[str, Any] | None = None
    sequence: int = field(default=0)

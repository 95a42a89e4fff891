"""What cancelling a broadcast (or booking) does to its plan depends on when it happens
(docs/lifecycle.md, "Cancelling a slot"):

- before its slot begins (start - lead): the broadcast is not planned at all, so the ledger cancels
  its pending actions;
- while its slot runs: it ends now. It is planned as a broadcast whose end is the cancel instant, so
  its FINISH and RESTORE (and whatever the between-slots policy or off-hours require after an end) are
  due at once, under keys naming that instant: planned once, whatever the number of ticks;
- after its end: nothing changes (its actions are history).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum

from worker.clock import ensure_utc
from worker.domain.specs import BroadcastSpec


class Phase(StrEnum):
    NOT_BEGUN = "not begun"
    RUNNING = "running"
    ENDED = "ended"


def phase_at(instant: datetime, slot_start: datetime, ends_at: datetime) -> Phase:
    """Where the slot [slot_start, ends_at) (lead included) stands at `instant`."""
    instant = ensure_utc(instant)
    if instant <= ensure_utc(slot_start):
        return Phase.NOT_BEGUN
    if instant >= ensure_utc(ends_at):
        return Phase.ENDED
    return Phase.RUNNING


def as_planned(spec: BroadcastSpec) -> BroadcastSpec | None:
    """The broadcast the planner plans for this row, None when it plans nothing for it."""
    if spec.cancelled_at is None:
        return spec
    phase = phase_at(spec.cancelled_at, spec.slot_start, spec.ends_at)
    if phase is Phase.NOT_BEGUN:
        return None
    if phase is Phase.ENDED:
        return spec
    return dataclasses.replace(spec, ends_at=ensure_utc(spec.cancelled_at), ended_early=True)

"""Cancelling one schedule row: a broadcast, a booking, an off-hours rule or a series.

Cancelling twice is no error (the answer says when the first happened). The planner runs at once, and
the answer counts the planned actions it cancelled and those already under way (they run to their end).
For a series it counts the upcoming occurrences the materialiser cancelled.

A broadcast (or booking) is cancelled according to where its slot stands (worker.domain.cut_short):
not begun, its actions are cancelled; running, it ends now (its finish and metadata restore are
planned for now, and the stream's history says who ended it early); ended, the cancel is refused
(`Closed`), for every front door alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.cut_short import Phase, phase_at
from worker.domain.types import ActionState, Source
from worker.service.refusal import NotFound, Refused
from worker.service.replanning import CLI_WAIT_SECONDS, replan
from worker.service.series import series_cancel_reason
from worker.service.text import iso_z
from worker.store import changes, views
from worker.store.db import transaction
from worker.store.events import record_event
from worker.store.models import Broadcast, BroadcastSeries, OffHours
from worker.store.slots import slot_label


class Schedule(StrEnum):
    BROADCAST = "broadcast"
    OFF_HOURS = "off_hours"
    SERIES = "series"


_MODELS: dict[Schedule, changes.Cancellable] = {
    Schedule.BROADCAST: Broadcast,
    Schedule.OFF_HOURS: OffHours,
    Schedule.SERIES: BroadcastSeries,
}
_SOURCES = {Schedule.BROADCAST: Source.BROADCAST, Schedule.OFF_HOURS: Source.OFF_HOURS}


class Closed(Refused):
    """The slot has ended: there is nothing left to cancel (nothing was changed)."""


@dataclass(frozen=True)
class Cancelled:
    already_at: datetime | None = None  # it was cancelled already, at this time: nothing changed
    cancelled: int = 0  # planned actions cancelled (for a series: upcoming occurrences)
    running: int = 0  # actions already under way, left to run to their end
    replan_failure: str | None = None  # saved, but planning at once failed (the scheduler will)
    # Cancelled while its slot ran: it ended now, with this many actions planned for now (its finish,
    # metadata restore, a disable the between-slots policy or off-hours call for).
    ended_early: bool = False
    ending: int = 0


def cancel(
    settings: OnairSettings,
    engine: Engine,
    schedule: Schedule,
    row_id: int,
    *,
    now: datetime,
    clock: Clock | None = None,
    wait: float = CLI_WAIT_SECONDS,
    actor: str = "operator",
) -> Cancelled:
    """Cancel the row and re-plan at once. NotFound naming `id` when there is no such row; Closed when
    it is a broadcast that has ended. The stream's history records who cancelled it
    (`<schedule>_cancelled`)."""
    model = _MODELS[schedule]
    what = schedule.value.replace("_", "-")
    with transaction(engine) as session:
        running = _running_slot(session, row_id, now) if schedule is Schedule.BROADCAST else None
        if not changes.mark_cancelled(session, model, row_id, now):
            exists, at = changes.cancelled_at(session, model, row_id)
            if not exists:
                raise NotFound("id", f"no {what} with id {row_id}")
            return Cancelled(already_at=at)
        if running is not None:
            stream_id: str | None = running.stream_id
            detail = f"{slot_label(running)} cancelled while live by {actor}: finished early"
        else:
            stream_id = changes.stream_of(session, model, row_id)
            detail = f"{what} #{row_id} cancelled (by {actor})"
        record_event(
            session,
            action_id=None,
            stream_id=stream_id,
            actor=actor,
            event=f"{schedule.value}_cancelled",
            detail=detail,
            now=now,
        )
    ended_early = running is not None
    source = _SOURCES.get(schedule)
    if source is None:  # a series: the materialiser cancels its occurrences on the re-plan
        failure = replan(settings, engine, clock=clock, wait=wait).failure
        with transaction(engine, immediate=False) as session:
            gone = views.occurrences_cancelled_for(session, row_id, series_cancel_reason(row_id))
        return Cancelled(cancelled=gone, replan_failure=failure)
    with transaction(engine, immediate=False) as session:
        before = views.action_states_of(session, source.value, row_id)
    pending = {i for i, state in before.items() if state == ActionState.PENDING.value}
    failure = replan(settings, engine, clock=clock, wait=wait).failure
    with transaction(engine, immediate=False) as session:
        after = views.action_states_of(session, source.value, row_id)
    states = [s for i, s in after.items() if i in pending or s == ActionState.CLAIMED.value]
    return Cancelled(
        cancelled=states.count(ActionState.CANCELLED.value),
        running=states.count(ActionState.CLAIMED.value),
        replan_failure=failure,
        ended_early=ended_early,
        # Ending early re-keys the end's actions to the cancel instant: the new rows, not cancelled.
        ending=len(after.keys() - before.keys()) if ended_early else 0,
    )


def _running_slot(session: Session, broadcast_id: int, now: datetime) -> Broadcast | None:
    """The broadcast when its slot is running (cancelling it now ends it early); Closed when it has
    ended; None otherwise (not begun, cancelled already, or no such row)."""
    row = changes.find_broadcast(session, broadcast_id)
    if row is None or row.cancelled_at is not None:
        return None
    phase = phase_at(now, row.slot_starts_at, row.ends_at)
    if phase is Phase.ENDED:
        ended = f"{slot_label(row)} ended at {iso_z(row.ends_at)}"
        raise Closed("id", f"{ended}: there is nothing left to cancel")
    return row if phase is Phase.RUNNING else None

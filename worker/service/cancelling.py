"""Cancelling one schedule row: a broadcast, a booking, an off-hours rule or a series.

Cancelling twice is no error (the answer says when the first happened). The planner runs at once, and
the answer counts the planned actions it cancelled and those already under way (they run to their end).
For a series it counts the upcoming occurrences the materialiser cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.types import ActionState, Source
from worker.service.errors import InvalidInput
from worker.service.replanning import CLI_WAIT_SECONDS, replan
from worker.service.series import series_cancel_reason
from worker.store import changes, views
from worker.store.db import transaction
from worker.store.events import record_event
from worker.store.models import Broadcast, BroadcastSeries, OffHours


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


@dataclass(frozen=True)
class Cancelled:
    already_at: datetime | None = None  # it was cancelled already, at this time: nothing changed
    cancelled: int = 0  # planned actions cancelled (for a series: upcoming occurrences)
    running: int = 0  # actions already under way, left to run to their end
    replan_failure: str | None = None  # saved, but planning at once failed (the scheduler will)


def cancel(
    settings: OnairSettings,
    engine: Engine,
    schedule: Schedule,
    row_id: int,
    *,
    now: datetime,
    clock: Clock | None = None,
    wait: float = CLI_WAIT_SECONDS,
    actor: str | None = None,
) -> Cancelled:
    """Cancel the row and re-plan at once. InvalidInput naming `id` when there is no such row. With an
    `actor`, the stream's history records who cancelled it (`<schedule>_cancelled`)."""
    model = _MODELS[schedule]
    what = schedule.value.replace("_", "-")
    with transaction(engine) as session:
        if not changes.mark_cancelled(session, model, row_id, now):
            exists, at = changes.cancelled_at(session, model, row_id)
            if not exists:
                raise InvalidInput(f"no {what} with id {row_id}", field="id")
            return Cancelled(already_at=at)
        if actor is not None:
            record_event(
                session,
                action_id=None,
                stream_id=changes.stream_of(session, model, row_id),
                actor=actor,
                event=f"{schedule.value}_cancelled",
                detail=f"{what} #{row_id} cancelled (by {actor})",
                now=now,
            )
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
    )

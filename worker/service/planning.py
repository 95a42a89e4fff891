"""The planner tick: read the schedules around the horizon, let the pure planner derive the actions,
write them to the ledger, and flag the rows it could not use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from worker.domain.planner import DEFAULT_LOOKBACK, plan
from worker.domain.specs import BroadcastSpec, OffHoursSpec
from worker.domain.types import Source
from worker.service.runtime import Runtime
from worker.service.series import materialise_series
from worker.store import ledger, schedules
from worker.store.db import transaction
from worker.store.models import Broadcast, OffHours

# Neighbouring broadcasts decide finish deadlines and off-hours shifts, so read a little past the window.
_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class PlanReport:
    inserted: int
    updated: int
    cancelled: int
    flagged: int

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.cancelled or self.flagged)

    @property
    def summary(self) -> str:
        return (
            f"{self.inserted} planned, {self.updated} re-planned, {self.cancelled} cancelled, "
            f"{self.flagged} schedule rows flagged or cleared"
        )


def broadcast_spec(row: Broadcast) -> BroadcastSpec:
    return BroadcastSpec(
        id=row.id,
        stream_id=row.stream_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        lead=timedelta(seconds=row.lead_seconds),
        title=row.title,
        metadata=row.metadata_json,
        reconnect_window=row.reconnect_window,
        created_at=row.created_at,
        organiser=row.organiser_name,
    )


def off_hours_spec(row: OffHours) -> OffHoursSpec:
    return OffHoursSpec(
        id=row.id,
        stream_id=row.stream_id,
        cron=row.cron,
        duration=timedelta(seconds=row.duration_seconds),
        timezone=row.timezone,
        label=row.label,
        created_at=row.created_at,
    )


def plan_tick(rt: Runtime) -> PlanReport:
    now = rt.clock.now()
    horizon = timedelta(hours=rt.settings.horizon_hours)
    lookback = DEFAULT_LOOKBACK
    with transaction(rt.engine) as session:
        series_horizon = timedelta(days=rt.settings.series_horizon_days)
        materialise_series(session, now, series_horizon, schedules.known_stream_ids(session))
        broadcasts = schedules.load_broadcasts(session, now - lookback - _MARGIN, now + horizon + _MARGIN)
        rules = schedules.load_off_hours(session)
        known = schedules.known_stream_ids(session)
        result = plan(
            [broadcast_spec(b) for b in broadcasts],
            [off_hours_spec(r) for r in rules],
            known,
            now,
            horizon,
            lookback,
        )
        checked = [(Source.BROADCAST, b.id) for b in broadcasts] + [(Source.OFF_HOURS, r.id) for r in rules]
        valid = [key for key in checked if key not in result.invalid]
        stats = ledger.apply_plan(
            session,
            result.actions,
            scope_sources=valid,
            window_start=result.window_start,
            window_end=result.window_end,
            now=now,
        )
        flagged = schedules.sync_invalid_reasons(session, result.invalid, checked)
        schedules.set_state(session, "last_plan_at", now.isoformat(), now=now)
    return PlanReport(stats.inserted, stats.updated, stats.cancelled, flagged)

"""The planner tick: read the schedules around the horizon, let the pure planner derive the actions,
write them to the ledger, and flag the rows it could not use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from worker.domain.planner import DEFAULT_LOOKBACK, plan
from worker.domain.specs import BroadcastSpec, OffHoursSpec
from worker.domain.types import Source
from worker.service import planner_watch
from worker.service.runtime import Runtime
from worker.service.series import materialise_series
from worker.store import ledger, schedules
from worker.store.db import transaction

# Planning this many new actions in one tick refreshes the ledger's statistics (PostgreSQL).
ANALYZE_AFTER = 1000
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


# The planner reads raw rows as they are: validation happens in the planner, which reports reasons.
broadcast_spec = BroadcastSpec.from_row
off_hours_spec = OffHoursSpec.from_row


def plan_tick(rt: Runtime, *, scheduler: bool = True) -> PlanReport:
    """One tick. The scheduler's ticks are watched (doctor, alerts, the report); a command re-planning
    at once (`scheduler=False`) only notes its success, and leaves the alerts to the scheduler."""
    try:
        report = _plan(rt)
    except Exception as exc:
        if scheduler:
            planner_watch.tick_failed(rt, exc)
        raise
    planner_watch.tick_succeeded(rt, alert=scheduler)
    return report


def _plan(rt: Runtime) -> PlanReport:
    now = rt.clock.now()
    horizon = timedelta(hours=rt.settings.horizon_hours)
    lookback = DEFAULT_LOOKBACK
    with transaction(rt.engine) as session:
        series_horizon = timedelta(days=rt.settings.series_horizon_days)
        known = schedules.known_stream_ids(session)
        materialise_series(session, now, series_horizon, known)
        broadcasts = schedules.load_broadcasts(session, now - lookback - _MARGIN, now + horizon + _MARGIN)
        rules = schedules.load_off_hours(session)
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
        if stats.inserted >= ANALYZE_AFTER and rt.engine.dialect.name == "postgresql":
            # Fresh statistics now, not at autovacuum's next pass (up to a minute): on a table it
            # still thinks tiny, PostgreSQL scanned it for every 500-key lookup (11.7 s a tick for
            # 10,000 broadcasts) and picked nested loops for the dispatcher's claim.
            session.execute(text("ANALYZE actions"))
        flagged = schedules.sync_invalid_reasons(session, result.invalid, checked)
        schedules.set_state(session, "last_plan_at", now.isoformat(), now=now)
    return PlanReport(stats.inserted, stats.updated, stats.cancelled, flagged)

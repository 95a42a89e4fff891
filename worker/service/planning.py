"""The planner tick: read the schedules around the horizon, let the pure planner derive the actions,
write them to the ledger, and flag the rows it could not use."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from worker.domain.planner import DEFAULT_LOOKBACK, plan
from worker.domain.specs import (
    BroadcastSpec,
    OffHoursSpec,
    broadcast_problem,
    read_broadcast,
    read_off_hours,
)
from worker.domain.types import Source
from worker.service import planner_watch
from worker.service.runtime import Runtime
from worker.service.series import materialise_series
from worker.store import ledger, schedules
from worker.store.db import transaction
from worker.store.models import Broadcast, OffHours

log = logging.getLogger("onair.planner")

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


def read_rows(
    broadcasts: Sequence[Broadcast], rules: Sequence[OffHours]
) -> tuple[list[BroadcastSpec], list[OffHoursSpec], dict[tuple[Source, int], str]]:
    """Specs of the rows that can be read, and the reason for each one that cannot."""
    unreadable: dict[tuple[Source, int], str] = {}
    broadcast_specs: list[BroadcastSpec] = []
    for b in broadcasts:
        spec = read_broadcast(b)
        if isinstance(spec, str):
            unreadable[(Source.BROADCAST, b.id)] = spec
        else:
            broadcast_specs.append(spec)
    rule_specs: list[OffHoursSpec] = []
    for r in rules:
        rule = read_off_hours(r)
        if isinstance(rule, str):
            unreadable[(Source.OFF_HOURS, r.id)] = rule
        else:
            rule_specs.append(rule)
    return broadcast_specs, rule_specs, unreadable


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
        written = schedules.claim_unchecked(session)
        window = (now - lookback - _MARGIN, now + horizon + _MARGIN)
        broadcasts, lost_broadcasts = schedules.load_broadcasts_each(session, *window)
        rules, lost_rules = schedules.load_off_hours_each(session)
        broadcast_specs, rule_specs, unreadable = read_rows(broadcasts, rules)
        unreadable.update({(Source.BROADCAST, i): why for i, why in lost_broadcasts.items()})
        unreadable.update({(Source.OFF_HOURS, i): why for i, why in lost_rules.items()})
        result = plan(broadcast_specs, rule_specs, known, now, horizon, lookback)
        invalid = {**unreadable, **result.invalid}
        checked = [(Source.BROADCAST, b.id) for b in broadcasts] + [(Source.OFF_HOURS, r.id) for r in rules]
        checked += sorted(set(unreadable) - set(checked))
        valid = [key for key in checked if key not in invalid]
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
        before: dict[tuple[Source, int], str | None] = dict.fromkeys(unreadable)
        before.update({(Source.BROADCAST, b.id): b.invalid_reason for b in broadcasts})
        before.update({(Source.OFF_HOURS, r.id): r.invalid_reason for r in rules})
        flagged = schedules.sync_invalid_reasons(session, invalid, checked)
        log_flag_changes(before, invalid)
        in_window = {b.id for b in broadcasts} | set(lost_broadcasts)
        flagged += check_written_broadcasts(session, known, written, skip=in_window)
        schedules.set_state(session, "last_plan_at", now.isoformat(), now=now)
    return PlanReport(stats.inserted, stats.updated, stats.cancelled, flagged)


def check_written_broadcasts(
    session: Session, known: Collection[str], written: Collection[int], skip: Collection[int]
) -> int:
    """Judge the broadcasts written since the last tick (`written`), and those flagged, that the plan
    did not read (`skip`): rows are validated when they are entered, wherever they lie in time.
    Returns how many flags changed."""
    ids = (set(written) | set(schedules.flagged_broadcast_ids(session))) - set(skip)
    rows, unreadable = schedules.live_broadcasts(session, ids)
    if not rows and not unreadable:
        return 0
    invalid = {(Source.BROADCAST, i): why for i, why in unreadable.items()}
    for row in rows:
        problem = broadcast_problem(row, known)
        if problem is not None:
            invalid[(Source.BROADCAST, row.id)] = problem
    before: dict[tuple[Source, int], str | None] = dict.fromkeys(invalid)
    before.update({(Source.BROADCAST, row.id): row.invalid_reason for row in rows})
    checked = list(before)
    log_flag_changes(before, invalid)
    return schedules.sync_invalid_reasons(session, invalid, checked)


def log_flag_changes(
    before: Mapping[tuple[Source, int], str | None], now: Mapping[tuple[Source, int], str]
) -> None:
    """Log each row whose flag changed this tick, with its table and id (not every tick's repeat)."""
    for (source, row_id), previous in before.items():
        reason = now.get((source, row_id))
        if reason is not None and reason != previous:
            log.warning("%s #%d cannot be planned: %s", schedules.TABLE_NAMES[source], row_id, reason)
        elif reason is None and previous is not None:
            log.info("%s #%d is valid again", schedules.TABLE_NAMES[source], row_id)

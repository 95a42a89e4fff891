"""Off-hours rules: recurring windows during which a stream (or every stream) is disabled.

A rule is checked before it is written (the planner's own checks, and the label's length), its stream
is looked up like any schedule's, and the planner runs at once after the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.specs import OffHoursSpec, check_off_hours
from worker.service.errors import InvalidInput, Problem, refuse
from worker.service.streams_lookup import register_stream_if_needed, save_with_stream
from worker.service.text import text_problem
from worker.store import observations, views
from worker.store.db import transaction
from worker.store.models import OffHours


@dataclass(frozen=True)
class SavedRule:
    row: OffHours
    replan_failure: str | None = None


def add_off_hours(
    settings: OnairSettings,
    engine: Engine,
    *,
    stream: str | None,
    cron: str,
    duration: timedelta,
    timezone: str,
    label: str | None,
    now: datetime,
    clock: Clock | None = None,
) -> SavedRule:
    """Write a new rule (for one stream, or every stream with `stream` None) and re-plan."""
    spec = OffHoursSpec(id=0, stream_id=stream, cron=cron, duration=duration, timezone=timezone, label=label)
    reasons = check_off_hours(spec, {stream} if stream else set())
    if reasons:
        raise InvalidInput("; ".join(reasons), field="rule")
    label_problem = text_problem("label", label)
    refuse([Problem("label", label_problem)] if label_problem else [])
    found = register_stream_if_needed(engine, stream) if stream else None
    row = OffHours(
        stream_id=stream,
        cron=cron.strip(),
        duration_seconds=int(duration.total_seconds()),
        timezone=timezone,
        label=label,
        created_at=now,
        updated_at=now,
    )
    return SavedRule(*save_with_stream(settings, engine, row, found, now=now, clock=clock))


def get_off_hours(engine: Engine, rule_id: int) -> OffHours | None:
    with transaction(engine, immediate=False) as session:
        return views.find(session, OffHours, rule_id)


def list_off_hours(engine: Engine, *, include_all: bool) -> tuple[list[OffHours], dict[str, str]]:
    """The rules (removed ones too with `include_all`), and the streams' names."""
    with transaction(engine, immediate=False) as session:
        return views.off_hours_rows(session, include_all=include_all), observations.stream_names(session)

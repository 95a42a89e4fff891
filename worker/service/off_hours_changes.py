"""`onair offhours edit`: change an off-hours rule's cron, zone, duration or label, held to the rules of
creation (the planner's checks, and no two windows of the rule overlapping), re-planned at once and
recorded in the history."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import Engine

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.off_hours_rules import overlap_problem
from worker.domain.specs import OffHoursSpec, check_off_hours
from worker.service.refusal import NotFound, Refused, check_note
from worker.service.replanning import API_WAIT_SECONDS, replan
from worker.service.text import text_problem
from worker.store import changes
from worker.store.db import transaction
from worker.store.events import record_event
from worker.store.models import OffHours


@dataclass(frozen=True)
class OffHoursEdit:
    cron: str | None = None
    timezone: str | None = None
    duration: timedelta | None = None
    label: str | None = None


def edit_off_hours(
    settings: OnairSettings,
    engine: Engine,
    clock: Clock,
    rule_id: int,
    edit: OffHoursEdit,
    *,
    actor: str,
    note: str | None = None,
) -> OffHours:
    check_note(note)
    now = clock.now()
    with transaction(engine) as session:
        row = changes.find_off_hours(session, rule_id)
        if row is None:
            raise NotFound("id", f"no off-hours rule with id {rule_id} (see `onair offhours list --all`)")
        if row.cancelled_at is not None:
            raise Refused("id", f"off-hours {rule_id} was removed: add a new rule")
        spec = OffHoursSpec.from_row(row)
        said = []
        if edit.cron is not None:
            spec = replace(spec, cron=edit.cron.strip())
            said.append(f"cron {row.cron!r} -> {spec.cron!r}")
        if edit.timezone is not None:
            spec = replace(spec, timezone=edit.timezone)
            said.append(f"zone {row.timezone} -> {spec.timezone}")
        if edit.duration is not None:
            spec = replace(spec, duration=edit.duration)
            said.append(f"duration {row.duration_seconds} s -> {int(edit.duration.total_seconds())} s")
        if edit.label is not None:
            spec = replace(spec, label=edit.label or None)
            said.append(f"label {row.label!r} -> {spec.label!r}")
        if not said:
            raise Refused("edit", "nothing to change: give --cron, --tz, --duration or --label")
        known = {spec.stream_id} if spec.stream_id else set()
        reasons = check_off_hours(spec, known)
        if reasons:
            raise Refused("cron" if "cron" in reasons[0] else "off_hours", "; ".join(reasons))
        overlap = overlap_problem(spec.cron, spec.timezone, spec.duration, now)
        if overlap:
            raise Refused("duration", overlap)
        label = text_problem("label", spec.label)
        if label:
            raise Refused("label", label)
        changes.set_off_hours(
            session,
            row,
            cron=spec.cron,
            timezone=spec.timezone,
            duration_seconds=int(spec.duration.total_seconds()),
            label=spec.label,
            now=now,
        )
        record_event(
            session,
            action_id=None,
            stream_id=row.stream_id,
            actor=actor,
            event="off_hours_changed",
            detail=f"off-hours #{rule_id} edited: {'; '.join(said)} (by {actor}{_why(note)})",
            now=now,
        )
        edited = row
    replan(settings, engine, clock=clock, wait=API_WAIT_SECONDS)
    return edited


def _why(note: str | None) -> str:
    return f": {note}" if note else ""

"""Recurring broadcasts (series): create, change, read. Cancelling is service.cancelling.

A series is checked before it is written (the rule, the zone, the bounds, the title), its stream is
looked up like any schedule's, and every change re-plans at once, which materialises the occurrences
(service.series).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.series import SeriesSpec, check_series
from worker.service.errors import InvalidInput
from worker.service.replanning import CLI_WAIT_SECONDS, replan
from worker.service.series import series_spec
from worker.service.streams_lookup import register_stream_if_needed, save_with_stream
from worker.service.text import text_problem
from worker.store import changes, observations, views
from worker.store.db import transaction
from worker.store.models import Broadcast, BroadcastSeries


@dataclass(frozen=True)
class SavedSeries:
    row: BroadcastSeries
    replan_failure: str | None = None


def check(spec: SeriesSpec) -> None:
    """InvalidInput with every reason the series cannot be expanded, or its title's problem."""
    reasons = check_series(spec)
    if reasons:
        raise InvalidInput("; ".join(reasons), field="series")
    title_problem = text_problem("title", spec.title)
    if title_problem:
        raise InvalidInput(title_problem, field="title")


def add_series(
    settings: OnairSettings, engine: Engine, spec: SeriesSpec, *, now: datetime, clock: Clock | None = None
) -> SavedSeries:
    """Write a new series (its rule read in `spec.timezone`), then re-plan."""
    check(spec)
    found = register_stream_if_needed(engine, spec.stream_id)
    metadata = spec.metadata if isinstance(spec.metadata, Mapping) else None
    row = BroadcastSeries(
        stream_id=spec.stream_id,
        cron=spec.cron,
        timezone=spec.timezone,
        duration_seconds=int(spec.duration.total_seconds()),
        lead_seconds=int(spec.lead.total_seconds()),
        title=spec.title,
        metadata_json=json.dumps(dict(metadata), sort_keys=True) if metadata else None,
        reconnect_window=spec.reconnect_window,
        starts_from=now,
        until=spec.until,
        occurrence_limit=spec.occurrence_limit,
        skip_dates=spec.skip_dates,
        created_at=now,
        updated_at=now,
    )
    return SavedSeries(*save_with_stream(settings, engine, row, found, now=now, clock=clock))


def edit_series(
    settings: OnairSettings,
    engine: Engine,
    row: BroadcastSeries,
    new_values: Mapping[str, Any],
    *,
    now: datetime,
    clock: Clock | None = None,
) -> SavedSeries:
    """Change a series' columns (as read in `row`); occurrences that have not begun are re-planned."""
    if row.cancelled_at is not None:
        raise InvalidInput(f"series {row.id} is cancelled; add a new one instead", field="series")
    if not new_values:
        raise InvalidInput("nothing to change: give at least one option (see --help)")
    for key, value in new_values.items():
        setattr(row, key, value)
    check(series_spec(row))
    with transaction(engine) as session:
        changes.update_series(session, row.id, new_values, now)
    return _replanned(settings, engine, row.id, clock)


def _replanned(settings: OnairSettings, engine: Engine, series_id: int, clock: Clock | None) -> SavedSeries:
    failure = replan(settings, engine, clock=clock, wait=CLI_WAIT_SECONDS).failure
    saved = get_series(engine, series_id)
    assert saved is not None
    return SavedSeries(saved, failure)


def get_series(engine: Engine, series_id: int) -> BroadcastSeries | None:
    with transaction(engine, immediate=False) as session:
        return views.find(session, BroadcastSeries, series_id)


def list_series(engine: Engine, *, include_all: bool) -> tuple[list[BroadcastSeries], dict[str, str]]:
    """The series (cancelled ones too with `include_all`), and the streams' names."""
    with transaction(engine, immediate=False) as session:
        return views.series_rows(session, include_all=include_all), observations.stream_names(session)


def occurrences_ahead(engine: Engine, series_id: int, now: datetime, limit: int) -> list[Broadcast]:
    """The series' broadcasts rows that have not ended, first `limit` by start."""
    with transaction(engine, immediate=False) as session:
        return views.occurrences_ahead(session, series_id, now, limit)

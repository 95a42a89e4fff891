"""The writes a person's change to a schedule makes (through the service layer): add a schedule row,
mark one cancelled, change a series' columns, a broadcast's details (title, metadata, reconnect
window) or an off-hours rule. Slots' times and leads are written by store.slots, which refuses
overlaps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from worker.store.models import Broadcast, BroadcastSeries, OffHours

Cancellable = type[Broadcast] | type[OffHours] | type[BroadcastSeries]


def add_row(session: Session, row: OffHours | BroadcastSeries) -> int:
    """Insert a new off-hours rule or series; its id."""
    session.add(row)
    session.flush()
    return row.id


def mark_cancelled(session: Session, model: Cancellable, row_id: int, now: datetime) -> bool:
    """Set the row's cancelled_at unless it is set already; whether this call set it."""
    result = session.execute(
        update(model)
        .where(model.id == row_id, model.cancelled_at.is_(None))
        .values(cancelled_at=now, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def update_series(session: Session, series_id: int, changes: Mapping[str, Any], now: datetime) -> None:
    session.execute(
        update(BroadcastSeries).where(BroadcastSeries.id == series_id).values(**changes, updated_at=now)
    )


def cancelled_at(session: Session, model: Cancellable, row_id: int) -> tuple[bool, datetime | None]:
    """(whether the row exists, when it was cancelled: None while it is not)."""
    found = session.execute(select(model.cancelled_at).where(model.id == row_id)).first()
    return (False, None) if found is None else (True, found[0])


def stream_of(session: Session, model: Cancellable, row_id: int) -> str | None:
    """The stream a row is for (None for an off-hours rule on every stream, or no such row)."""
    found = session.execute(select(model.stream_id).where(model.id == row_id)).first()
    return None if found is None else found[0]


def find_broadcast(session: Session, broadcast_id: int) -> Broadcast | None:
    return session.get(Broadcast, broadcast_id)


def set_details(
    session: Session,
    row: Broadcast,
    *,
    title: str | None,
    metadata_json: str | None,
    reconnect_window: int | None,
    now: datetime,
) -> None:
    row.title, row.metadata_json, row.reconnect_window, row.updated_at = (
        title,
        metadata_json,
        reconnect_window,
        now,
    )
    session.flush()


def find_off_hours(session: Session, rule_id: int) -> OffHours | None:
    return session.get(OffHours, rule_id)


def set_off_hours(
    session: Session,
    row: OffHours,
    *,
    cron: str,
    timezone: str,
    duration_seconds: int,
    label: str | None,
    now: datetime,
) -> None:
    row.cron, row.timezone, row.duration_seconds, row.label = cron, timezone, duration_seconds, label
    row.invalid_reason, row.updated_at = None, now
    session.flush()

"""Writes of a broadcast's details (title, metadata, reconnect window) by `onair broadcast edit`; its
times and lead go through store.slots.move_slot, which guards the no-overlap rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from worker.store.models import Broadcast, OffHours


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

"""SQL for materialised occurrences: the `broadcasts` rows of a series, written one at a time inside a
SAVEPOINT so that a row the database refuses (an overlapping slot) leaves the others in place. Which
slot an occurrence would collide with is asked of store.slots.find_conflicts, the one overlap rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.store.models import Broadcast, BroadcastSeries


class Refused(Exception):
    """The database refused a write (the no-overlap rule, or one live row per occurrence)."""


def candidate_series(session: Session, cancelled_marker: str) -> list[BroadcastSeries]:
    """Every live series, and every cancelled one whose cancellation is not yet applied to its rows."""
    return list(
        session.scalars(
            select(BroadcastSeries)
            .where(
                or_(
                    BroadcastSeries.cancelled_at.is_(None),
                    BroadcastSeries.materialized_fingerprint.is_distinct_from(cancelled_marker),
                )
            )
            .order_by(BroadcastSeries.id)
        )
    )


# What decides whether a series needs a pass (service.series.is_due), named as BroadcastSeries'
# attributes: read as plain rows, without the ORM's objects and the organiser's name.
_DUE_COLUMNS = [
    BroadcastSeries.id,
    BroadcastSeries.stream_id,
    BroadcastSeries.cron,
    BroadcastSeries.timezone,
    BroadcastSeries.duration_seconds,
    BroadcastSeries.lead_seconds,
    BroadcastSeries.title,
    BroadcastSeries.metadata_json.label("metadata_json"),
    BroadcastSeries.reconnect_window,
    BroadcastSeries.starts_from,
    BroadcastSeries.until,
    BroadcastSeries.occurrence_limit,
    BroadcastSeries.skip_dates,
    BroadcastSeries.organiser_id,
    BroadcastSeries.materialized_fingerprint,
    BroadcastSeries.materialized_until,
    BroadcastSeries.materialized_at,
    BroadcastSeries.cancelled_at,
]


def candidate_series_rows(session: Session, cancelled_marker: str) -> list[Any]:
    """As candidate_series, as plain rows with the columns that decide whether a pass is due."""
    return list(
        session.execute(
            select(*_DUE_COLUMNS)
            .where(
                or_(
                    BroadcastSeries.cancelled_at.is_(None),
                    BroadcastSeries.materialized_fingerprint.is_distinct_from(cancelled_marker),
                )
            )
            .order_by(BroadcastSeries.id)
        )
    )


def lock_series(session: Session, series_id: int) -> BroadcastSeries | None:
    """The series row, re-read and locked until commit (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    keeps other writers out), so two planners never materialise one series at once."""
    return session.scalars(
        select(BroadcastSeries)
        .where(BroadcastSeries.id == series_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def future_rows(session: Session, series_id: int, after: datetime) -> list[Broadcast]:
    """The series' rows starting after `after`: live ones, and those a person cancelled (which stand
    for an occurrence that must not come back). Rows onair cancelled itself are history only."""
    return list(
        session.scalars(
            select(Broadcast)
            .where(
                Broadcast.series_id == series_id,
                Broadcast.starts_at > after,
                or_(Broadcast.cancelled_at.is_(None), Broadcast.cancel_reason.is_(None)),
            )
            .order_by(Broadcast.starts_at, Broadcast.id)
        )
    )


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """Run one write in a SAVEPOINT; the database's refusal rolls back only that write."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        raise Refused(str(exc.orig).splitlines()[0] if exc.orig else str(exc)) from None


def insert_row(session: Session, values: dict[str, Any]) -> None:
    with savepoint(session):
        session.execute(insert(Broadcast).values(**values))


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert several rows in one statement, all or none (the database refuses them all if one
    overlaps)."""
    with savepoint(session):
        session.execute(insert(Broadcast), rows)


def stream_slots(session: Session, stream_id: str, start: datetime, end: datetime) -> list[Broadcast]:
    """The non-cancelled slots on the stream that overlap [start, end), in time order."""
    return list(
        session.scalars(
            select(Broadcast)
            .where(
                Broadcast.stream_id == stream_id,
                Broadcast.cancelled_at.is_(None),
                Broadcast.slot_starts_at < end,
                Broadcast.ends_at > start,
            )
            .order_by(Broadcast.slot_starts_at, Broadcast.id)
        )
    )


def update_row(session: Session, row_id: int, values: dict[str, Any]) -> None:
    with savepoint(session):
        session.execute(update(Broadcast).where(Broadcast.id == row_id).values(**values))


def cancel_rows(session: Session, row_ids: list[int], *, now: datetime, reason: str) -> int:
    if not row_ids:
        return 0
    result = session.execute(
        update(Broadcast)
        .where(Broadcast.id.in_(row_ids), Broadcast.cancelled_at.is_(None))
        .values(cancelled_at=now, cancel_reason=reason, updated_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel_future(session: Session, series_id: int, *, now: datetime, reason: str) -> int:
    """Cancel every live row of the series whose slot has not begun."""
    result = session.execute(
        update(Broadcast)
        .where(
            Broadcast.series_id == series_id,
            Broadcast.cancelled_at.is_(None),
            Broadcast.slot_starts_at > now,
        )
        .values(cancelled_at=now, cancel_reason=reason, updated_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def record_materialised(session: Session, series_id: int, values: dict[str, Any]) -> None:
    session.execute(update(BroadcastSeries).where(BroadcastSeries.id == series_id).values(**values))

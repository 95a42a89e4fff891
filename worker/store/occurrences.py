"""SQL for materialised occurrences: the `broadcasts` rows of a series, written one at a time inside a
SAVEPOINT so that a row the database refuses (an overlapping slot) leaves the others in place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.store.models import Broadcast, BroadcastSeries


class Refused(Exception):
    """The database refused a write (the no-overlap rule, or one live row per occurrence)."""


@dataclass(frozen=True)
class Blocker:
    """A slot that an occurrence would overlap."""

    id: int
    title: str | None
    slot_start: datetime
    end: datetime
    series_id: int | None

    def describe(self) -> str:
        title = f" {self.title!r}" if self.title else ""
        start = self.slot_start.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        end = self.end.astimezone(UTC).strftime(
            "%H:%M" if self.end.date() == self.slot_start.date() else "%Y-%m-%d %H:%M"
        )
        return f"broadcast #{self.id}{title} {start} to {end} UTC (lead included)"


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


def blocker(
    session: Session, stream_id: str, slot_start: datetime, end: datetime, *, not_id: int | None = None
) -> Blocker | None:
    """The first live slot on the stream overlapping [slot_start, end), if any."""
    query = select(Broadcast).where(
        Broadcast.stream_id == stream_id,
        Broadcast.cancelled_at.is_(None),
        Broadcast.slot_starts_at < end,
        Broadcast.ends_at > slot_start,
    )
    if not_id is not None:
        query = query.where(Broadcast.id != not_id)
    row = session.scalars(query.order_by(Broadcast.slot_starts_at).limit(1)).first()
    if row is None:
        return None
    return Blocker(row.id, row.title, row.slot_starts_at, row.ends_at, row.series_id)


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

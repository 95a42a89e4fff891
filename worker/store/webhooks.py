"""FastPix webhook events (webhook_events) and the stream status they report (streams.status)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.store.models import Stream, WebhookEvent


@dataclass(frozen=True)
class Received:
    event_id: str
    type: str
    stream_id: str | None
    status: str | None
    created_at: datetime


def record(session: Session, event: Received, now: datetime) -> tuple[bool, bool]:
    """Store the event once (by id) and, when it is newer than the known status, make its status the
    stream's. Returns (new: False for a redelivery, which changes nothing; status_changed)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    at = ensure_utc(event.created_at)
    stored = session.execute(
        insert(WebhookEvent.__table__)  # type: ignore[arg-type]
        .values(
            event_id=event.event_id,
            type=event.type,
            stream_id=event.stream_id,
            status=event.status,
            created_at=at,
            received_at=ensure_utc(now),
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(WebhookEvent.__table__.c.id)
    ).first()
    if stored is None:
        return False, False
    if event.stream_id is None or event.status is None:
        return True, False
    changed = session.execute(
        update(Stream)
        .where(
            Stream.stream_id == event.stream_id,
            or_(Stream.status_at.is_(None), Stream.status_at < at),
        )
        .values(status=event.status, status_at=at)
        .execution_options(synchronize_session=False)
    )
    return True, bool(getattr(changed, "rowcount", 0))


LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Signal:
    """One report of a stream's status: what, and when it was true."""

    at: datetime
    status: str


def signals(
    session: Session, stream_ids: Collection[str], since: datetime, until: datetime
) -> dict[str, list[Signal]]:
    """Per stream, the last status reported before `since` (dated `since`) and every status reported
    in [since, until), oldest first."""
    found: dict[str, list[Signal]] = {s: [] for s in stream_ids}
    if not stream_ids:
        return found
    rows: Sequence[WebhookEvent] = session.scalars(
        select(WebhookEvent)
        .where(
            WebhookEvent.stream_id.in_(list(stream_ids)),
            WebhookEvent.status.is_not(None),
            WebhookEvent.created_at < until,
            # The status before `since` is the newest of the day before it, not of all history.
            WebhookEvent.created_at >= since - LOOKBACK,
        )
        .order_by(WebhookEvent.stream_id, WebhookEvent.created_at, WebhookEvent.id)
    ).all()
    for row in rows:
        assert row.stream_id is not None and row.status is not None
        points = found[row.stream_id]
        if row.created_at < since:
            points[:] = [Signal(since, row.status)]
        else:
            points.append(Signal(row.created_at, row.status))
    return found


def stream_statuses(
    session: Session, stream_ids: Collection[str]
) -> dict[str, tuple[str | None, datetime | None]]:
    """Each stream's known status and when it was true."""
    rows = session.execute(
        select(Stream.stream_id, Stream.status, Stream.status_at).where(
            Stream.stream_id.in_(list(stream_ids))
        )
    ).all()
    return {r.stream_id: (r.status, r.status_at) for r in rows}

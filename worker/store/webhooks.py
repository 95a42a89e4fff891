"""FastPix webhook events (webhook_events) and the stream status they report (streams.status)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.domain.signal import Report
from worker.store.models import Stream, WebhookEvent
from worker.store.sqlutil import chunked

# The type of a report onair made itself by reading the stream (no webhook had come).
POLL_TYPE = "onair.poll"


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


def reports(
    session: Session, stream_ids: Collection[str], since: datetime, until: datetime
) -> dict[str, list[Report]]:
    """Per stream, the statuses reported in [since - LOOKBACK, until), oldest first (the day before
    `since` tells the status a slot starting at `since` began with)."""
    found: dict[str, list[Report]] = {s: [] for s in stream_ids}
    for chunk in chunked(list(stream_ids)):
        rows = session.execute(
            select(WebhookEvent.stream_id, WebhookEvent.created_at, WebhookEvent.status, WebhookEvent.type)
            .where(
                WebhookEvent.stream_id.in_(chunk),
                WebhookEvent.status.is_not(None),
                WebhookEvent.created_at >= ensure_utc(since) - LOOKBACK,
                WebhookEvent.created_at < ensure_utc(until),
            )
            .order_by(WebhookEvent.created_at, WebhookEvent.id)
        ).all()
        for stream_id, at, status, kind in rows:
            found[str(stream_id)].append(Report(ensure_utc(at), str(status), polled=kind == POLL_TYPE))
    return found


def record_poll(session: Session, stream_id: str, status: str, now: datetime) -> None:
    """A status read with GET where no webhook came, kept beside the webhooks as a report."""
    record(
        session,
        Received(f"poll:{stream_id}:{ensure_utc(now).isoformat()}", POLL_TYPE, stream_id, status, now),
        now,
    )


def webhook_streams_since(session: Session, stream_ids: Collection[str], since: datetime) -> set[str]:
    """The streams among these that FastPix sent a webhook about at or after `since`."""
    return _streams_with(session, stream_ids, since, WebhookEvent.type != POLL_TYPE)


def reported_since(session: Session, stream_ids: Collection[str], since: datetime) -> set[str]:
    """The streams among these with a status report (webhook or poll) at or after `since`."""
    return _streams_with(session, stream_ids, since, WebhookEvent.status.is_not(None))


def _streams_with(session: Session, stream_ids: Collection[str], since: datetime, kind: Any) -> set[str]:
    found: set[str] = set()
    for chunk in chunked(list(stream_ids)):
        query = (
            select(WebhookEvent.stream_id)
            .where(WebhookEvent.stream_id.in_(chunk), WebhookEvent.created_at >= ensure_utc(since), kind)
            .distinct()
        )
        found.update(str(s) for s in session.scalars(query))
    return found


def events_of(
    session: Session, stream_id: str, since: datetime | None, until: datetime | None, limit: int
) -> list[WebhookEvent]:
    """The stream's webhook events and polls, newest first (by their own created_at), at most `limit`."""
    query = select(WebhookEvent).where(WebhookEvent.stream_id == stream_id)
    if since is not None:
        query = query.where(WebhookEvent.created_at >= ensure_utc(since))
    if until is not None:
        query = query.where(WebhookEvent.created_at <= ensure_utc(until))
    order = (WebhookEvent.created_at.desc(), WebhookEvent.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit)))

"""Viewer counts per broadcast (broadcast_viewers, migration 0011): one row of running figures per
sampled broadcast, the claim that makes each period's sample one call, and what the report, the CLI,
the API and the metrics read."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.domain.viewers import ACTIVE, ViewerFigures
from worker.store.models import Broadcast, BroadcastViewers, Stream
from worker.store.sqlutil import chunked
from worker.store.types import UTCDateTime

ERROR_MAX = 500


@dataclass(frozen=True)
class InSlot:
    """A broadcast in its slot now, with its stream's known status and its sampling so far."""

    broadcast_id: int
    stream_id: str
    stream_name: str | None
    starts_at: datetime
    ends_at: datetime
    stream_status: str | None
    last_attempt_at: datetime | None
    last_viewers: int | None


def in_slot(session: Session, now: datetime, *, active_only: bool = False) -> list[InSlot]:
    """Broadcasts (not cancelled, not flagged) with starts_at <= now < ends_at, on a known stream;
    `active_only`: those whose stream is active, the only ones the sampler may sample.

    Per stream, only its latest broadcast started by now can be in its slot (live slots on a stream
    never overlap), found by one probe of the (stream_id, starts_at) index: a look costs a few index
    reads per stream, not a scan of every future broadcast."""
    at = ensure_utc(now)
    latest = (
        select(Broadcast.id)
        .where(
            Broadcast.stream_id == Stream.stream_id,
            Broadcast.starts_at <= at,
            Broadcast.cancelled_at.is_(None),
        )
        .order_by(Broadcast.starts_at.desc())
        .limit(1)
        .correlate(Stream)
        .scalar_subquery()
    )
    query = (
        select(
            Broadcast.id,
            Broadcast.stream_id,
            Stream.name,
            Broadcast.starts_at,
            Broadcast.ends_at,
            Stream.status,
            BroadcastViewers.attempted_at,
            BroadcastViewers.last_viewers,
        )
        .select_from(Stream)
        .join(Broadcast, Broadcast.id == latest)
        .outerjoin(BroadcastViewers, BroadcastViewers.broadcast_id == Broadcast.id)
        .where(Broadcast.ends_at > at, Broadcast.invalid_reason.is_(None))
        .order_by(Broadcast.stream_id)
    )
    if active_only:
        query = query.where(Stream.status == ACTIVE)
    return [
        InSlot(int(i), str(s), name, ensure_utc(a), ensure_utc(b), status, tried, last)
        for i, s, name, a, b, status, tried, last in session.execute(query)
    ]


def claim(session: Session, broadcast_id: int, stream_id: str, period_start: datetime, now: datetime) -> bool:
    """Take this period's sample of the broadcast: True for exactly one caller per period, whichever
    process asks (the row's attempted_at moves into the period in one compare-and-set upsert)."""
    table = BroadcastViewers.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(  # type: ignore[arg-type]
        broadcast_id=broadcast_id, stream_id=stream_id, attempted_at=ensure_utc(now)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["broadcast_id"],
        set_={"attempted_at": stmt.excluded.attempted_at},
        where=or_(
            BroadcastViewers.attempted_at.is_(None),
            BroadcastViewers.attempted_at < ensure_utc(period_start),
        ),
    )
    return session.execute(stmt.returning(BroadcastViewers.broadcast_id)).first() is not None


def add_sample(session: Session, broadcast_id: int, views: int, at: datetime) -> None:
    """Count one sample into the broadcast's figures."""
    t = BroadcastViewers
    higher = or_(t.peak_viewers.is_(None), t.peak_viewers < views)
    when = literal(ensure_utc(at), UTCDateTime())
    session.execute(
        update(t)
        .where(t.broadcast_id == broadcast_id)
        .values(
            samples=t.samples + 1,
            total_viewers=t.total_viewers + views,
            peak_viewers=case((higher, views), else_=t.peak_viewers),
            peak_at=case((higher, when), else_=t.peak_at),
            last_viewers=views,
            sampled_at=when,
        )
        .execution_options(synchronize_session=False)
    )


def add_failure(session: Session, broadcast_id: int, error: str, at: datetime) -> None:
    """Count one failed sample call and keep its cause (the broadcast's actions are not touched)."""
    t = BroadcastViewers
    session.execute(
        update(t)
        .where(t.broadcast_id == broadcast_id)
        .values(failures=t.failures + 1, last_error=error[:ERROR_MAX], last_error_at=ensure_utc(at))
        .execution_options(synchronize_session=False)
    )


def figures(session: Session, broadcast_ids: Collection[int]) -> dict[int, ViewerFigures]:
    """The figures of those of these broadcasts that were sampled (or tried)."""
    t = BroadcastViewers
    found: dict[int, ViewerFigures] = {}
    for chunk in chunked(sorted(set(broadcast_ids))):
        for row in session.scalars(select(t).where(t.broadcast_id.in_(chunk))):
            found[row.broadcast_id] = ViewerFigures(
                samples=row.samples,
                total=row.total_viewers,
                peak=row.peak_viewers,
                peak_at=row.peak_at,
                last=row.last_viewers,
                sampled_at=row.sampled_at,
                failures=row.failures,
                last_error=row.last_error,
                last_error_at=row.last_error_at,
            )
    return found

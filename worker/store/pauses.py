"""The stream_pauses table: open a pause, end it, and read the pauses in force or past."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.domain.pauses import Pause, is_paused_outcome
from worker.domain.types import ActionState
from worker.store.models import Action, StreamPause
from worker.store.sqlutil import chunked
from worker.store.types import UTCDateTime


def as_pause(row: StreamPause) -> Pause:
    return Pause(row.stream_id, row.paused_at, row.paused_by, row.note, row.until)


def open_pause(session: Session, stream_id: str) -> StreamPause | None:
    """The stream's pause not yet ended (its `until` may have passed: the planner ends it next)."""
    return session.scalars(
        select(StreamPause).where(StreamPause.stream_id == stream_id, StreamPause.resumed_at.is_(None))
    ).first()


def in_force(session: Session, stream_ids: Sequence[str], now: datetime) -> dict[str, Pause]:
    """The pauses holding at `now` on these streams, by stream id."""
    now = ensure_utc(now)
    found: dict[str, Pause] = {}
    for chunk in chunked(sorted(set(stream_ids))):
        rows = session.scalars(
            select(StreamPause).where(
                StreamPause.stream_id.in_(chunk),
                StreamPause.resumed_at.is_(None),
                or_(StreamPause.until.is_(None), StreamPause.until > now),
            )
        )
        found.update({row.stream_id: as_pause(row) for row in rows})
    return found


def all_in_force(session: Session, now: datetime) -> list[Pause]:
    now = ensure_utc(now)
    rows = session.scalars(
        select(StreamPause)
        .where(StreamPause.resumed_at.is_(None), or_(StreamPause.until.is_(None), StreamPause.until > now))
        .order_by(StreamPause.stream_id)
    )
    return [as_pause(row) for row in rows]


def add_pause(
    session: Session, stream_id: str, *, by: str, note: str | None, until: datetime | None, now: datetime
) -> StreamPause:
    row = StreamPause(stream_id=stream_id, paused_at=now, paused_by=by, note=note, until=until)
    session.add(row)
    session.flush()
    return row


def end_pause(session: Session, row: StreamPause, *, by: str, at: datetime) -> None:
    session.execute(
        update(StreamPause)
        .where(StreamPause.id == row.id, StreamPause.resumed_at.is_(None))
        .values(resumed_at=at, resumed_by=by)
    )


def lapsed(session: Session, now: datetime) -> list[StreamPause]:
    """Pauses whose `until` has passed and that nobody has ended yet."""
    now = ensure_utc(now)
    return list(
        session.scalars(
            select(StreamPause).where(
                StreamPause.resumed_at.is_(None), StreamPause.until.is_not(None), StreamPause.until <= now
            )
        )
    )


# Whether lapsed(session, now) would find a pause (one probe; the planner's glance runs it).
LAPSED_PROBE = (
    select(StreamPause.id)
    .where(
        StreamPause.resumed_at.is_(None),
        StreamPause.until.is_not(None),
        StreamPause.until <= bindparam("now", type_=UTCDateTime()),
    )
    .limit(1)
)


def history(session: Session, stream_id: str | None, *, limit: int = 20) -> list[StreamPause]:
    """The latest pauses (of one stream, if given), newest first."""
    query = select(StreamPause).order_by(StreamPause.paused_at.desc(), StreamPause.id.desc())
    if stream_id is not None:
        query = query.where(StreamPause.stream_id == stream_id)
    return list(session.scalars(query.limit(limit)))


def skipped_while_paused(session: Session, stream_id: str, since: datetime) -> list[Action]:
    """The stream's actions a pause skipped (finished since the pause began), in due order."""
    rows = session.scalars(
        select(Action)
        .where(
            Action.stream_id == stream_id,
            Action.state == ActionState.SKIPPED.value,
            Action.finished_at >= ensure_utc(since),
        )
        .order_by(Action.due_at, Action.sequence)
    )
    return [row for row in rows if is_paused_outcome(row.state, row.outcome)]


def overlapping(session: Session, start: datetime, end: datetime) -> list[StreamPause]:
    """Pauses that held at some moment of [start, end): begun before `end`, not resumed nor lapsed by
    `start`; by stream, oldest first."""
    start, end = ensure_utc(start), ensure_utc(end)
    return list(
        session.scalars(
            select(StreamPause)
            .where(
                StreamPause.paused_at < end,
                or_(StreamPause.resumed_at.is_(None), StreamPause.resumed_at > start),
                or_(StreamPause.until.is_(None), StreamPause.until > start),
            )
            .order_by(StreamPause.stream_id, StreamPause.paused_at)
        )
    )

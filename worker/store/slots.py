"""Slots on a stream: find collisions, and insert or move a broadcasts row only when it collides with none.

A slot is [starts_at - lead, ends_at). The database itself refuses two overlapping non-cancelled slots
on one stream (migration 0002); these helpers check first so the refusal names the slot in the way,
and turn the database's own refusal (a writer that raced us, or a plain-SQL insert) into the same
SlotConflict. On PostgreSQL a transaction-level advisory lock per stream serialises onair's own writers,
so the pre-check is exact; on SQLite the caller's immediate transaction (store.db.transaction) does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.domain.text import show_span
from worker.store.models import DEFAULT_LEAD_SECONDS, Broadcast

NO_OVERLAP_CONSTRAINT = "ex_broadcasts_no_overlap"
SQLITE_OVERLAP_MESSAGE = "slot overlaps another slot on this stream"
MAX_NAMED = 3
WRITE_CHUNK = 1000


class SlotConflict(ValueError):
    """A slot overlaps one or more non-cancelled slots on the same stream; the message names them."""

    def __init__(self, message: str, conflicting_ids: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.conflicting_ids = tuple(conflicting_ids)


def slot_start(starts_at: datetime, lead_seconds: int | None) -> datetime:
    return starts_at - timedelta(seconds=DEFAULT_LEAD_SECONDS if lead_seconds is None else lead_seconds)


def find_conflicts(
    session: Session, stream_id: str, slot_start: datetime, end: datetime, *, exclude_id: int | None = None
) -> list[Broadcast]:
    """Non-cancelled broadcasts on the stream whose slot overlaps [slot_start, end), earliest first."""
    others = select(Broadcast).where(Broadcast.stream_id == stream_id, Broadcast.cancelled_at.is_(None))
    if exclude_id is not None:
        others = others.where(Broadcast.id != exclude_id)
    # Slots already stored never overlap, so the one starting last before `end` also ends last: if it
    # ends by slot_start, nothing collides. One index probe answers the common case.
    latest = session.scalars(
        others.where(Broadcast.slot_starts_at < end).order_by(Broadcast.slot_starts_at.desc()).limit(1)
    ).first()
    if latest is None or latest.ends_at <= slot_start:
        return []
    return list(
        session.scalars(
            others.where(Broadcast.slot_starts_at < end, Broadcast.ends_at > slot_start).order_by(
                Broadcast.slot_starts_at, Broadcast.id
            )
        )
    )


def insert_slot(session: Session, row: Broadcast) -> Broadcast:
    """Add a new broadcasts row (ops broadcast, booking or occurrence) and flush it.

    Raises SlotConflict, naming the slots in the way, when it would overlap one; the session's
    transaction stays usable either way.
    """
    lock_stream(session, row.stream_id)
    start = slot_start(row.starts_at, row.lead_seconds)
    if row.cancelled_at is None:
        _refuse_conflicts(session, row.stream_id, start, row.ends_at, exclude_id=None)
    _write_or_conflict(session, lambda: session.add(row), row.stream_id, start, row.ends_at, exclude_id=None)
    return row


def move_slot(
    session: Session,
    broadcast_id: int,
    *,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    lead_seconds: int | None = None,
) -> Broadcast:
    """Give an existing broadcast new times (and lead, when given), unless the new slot collides.

    LookupError when there is no such broadcast. The row comes back refreshed from the database.
    """
    row = session.get(Broadcast, broadcast_id)
    if row is None:
        raise LookupError(f"no broadcast with id {broadcast_id}")
    lock_stream(session, row.stream_id)
    lead = row.lead_seconds if lead_seconds is None else lead_seconds
    start = slot_start(starts_at, lead)
    if row.cancelled_at is None:
        _refuse_conflicts(session, row.stream_id, start, ends_at, exclude_id=broadcast_id)

    def change() -> None:
        row.starts_at, row.ends_at, row.lead_seconds, row.updated_at = starts_at, ends_at, lead, now

    _write_or_conflict(session, change, row.stream_id, start, ends_at, exclude_id=broadcast_id)
    session.refresh(row)
    return row


def lock_stream(session: Session, stream_id: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:stream))"), {"stream": stream_id})


def _refuse_conflicts(
    session: Session, stream_id: str, start: datetime, end: datetime, *, exclude_id: int | None
) -> None:
    conflicts = find_conflicts(session, stream_id, start, end, exclude_id=exclude_id)
    if conflicts:
        raise conflict_naming(conflicts)


def _write_or_conflict(
    session: Session,
    write: Callable[[], None],
    stream_id: str,
    start: datetime,
    end: datetime,
    *,
    exclude_id: int | None,
) -> None:
    """Flush `write` in a savepoint; the database's no-overlap refusal becomes SlotConflict."""
    savepoint = session.begin_nested()
    try:
        write()
        session.flush()
    except IntegrityError as refused:
        savepoint.rollback()
        if not is_overlap_refusal(refused):
            raise
        # Another writer's slot won the race (or was written by plain SQL): name it if it is there.
        conflicts = find_conflicts(session, stream_id, start, end, exclude_id=exclude_id)
        if conflicts:
            raise conflict_naming(conflicts) from None
        raise SlotConflict(f"{SQLITE_OVERLAP_MESSAGE} (lead included)") from None
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()


def is_overlap_refusal(error: IntegrityError) -> bool:
    """True when the database refused a write because two slots on a stream would overlap."""
    diag = getattr(error.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None) == NO_OVERLAP_CONSTRAINT:
        return True
    return SQLITE_OVERLAP_MESSAGE in str(error.orig)


def conflict_naming(conflicts: Sequence[Broadcast]) -> SlotConflict:
    named = ", ".join(describe_slot(c) for c in conflicts[:MAX_NAMED])
    more = f" and {len(conflicts) - MAX_NAMED} more" if len(conflicts) > MAX_NAMED else ""
    return SlotConflict(f"overlaps {named}{more} (lead included)", [c.id for c in conflicts])


def describe_slot(row: Broadcast) -> str:
    """`broadcast #12 'Morning show' 2026-12-01 09:55 to 11:00 UTC`, saying who booked it or its series."""
    if row.organiser_id is not None:
        kind = f"booking #{row.id} by {row.organiser_name or f'organiser #{row.organiser_id}'}"
    elif row.series_id is not None:
        kind = f"occurrence #{row.id} of series #{row.series_id}"
    else:
        kind = f"broadcast #{row.id}"
    title = f" {row.title!r}" if row.title else ""
    return f"{kind}{title} {show_span(row.slot_starts_at, row.ends_at)} on stream {row.stream_id}"


def insert_many(
    session: Session, values: Sequence[dict[str, object]], advance: Callable[[int], None]
) -> list[int]:
    """Insert many checked slots (in chunks, calling `advance` with each chunk's size); their ids. The
    database's no-overlap refusal (a slot written meanwhile) becomes SlotConflict."""
    ids: list[int] = []
    try:
        for first in range(0, len(values), WRITE_CHUNK):
            chunk = values[first : first + WRITE_CHUNK]
            ids.extend(session.scalars(insert(Broadcast).returning(Broadcast.id), chunk))
            advance(len(chunk))
    except IntegrityError as refused:
        if not is_overlap_refusal(refused):
            raise
        raise SlotConflict(
            "nothing imported: the database refused a slot overlapping one written meanwhile (lead included)"
        ) from None
    return ids


def stored_slots(session: Session, stream_id: str, low: datetime, high: datetime) -> list[Broadcast]:
    """The non-cancelled slots on a stream touching [low, high), by slot start."""
    query = (
        select(Broadcast)
        .where(
            Broadcast.stream_id == stream_id,
            Broadcast.cancelled_at.is_(None),
            Broadcast.slot_starts_at < high,
            Broadcast.ends_at > low,
        )
        .order_by(Broadcast.slot_starts_at, Broadcast.id)
    )
    return list(session.scalars(query))

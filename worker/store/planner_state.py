"""What the planner keeps between ticks: its lease (one tick at a time, across processes) and its
bookkeeping (how far ahead it has planned, when it last re-planned everything, and the fingerprints
of the inputs it re-plans in full when they change). Both live in scheduler_state rows."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.store.db import transaction
from worker.store.models import Broadcast, SchedulerState
from worker.store.sqlutil import actions

LEASE_KEY = "planner_lease"
BOOK_KEY = "planner_book"
# When the last planner tick finished (`onair timeline` shows it).
LAST_PLAN_KEY = "last_plan_at"


def take_lease(engine: Engine, token: str, now: datetime, ttl: timedelta) -> bool | None:
    """Take the planner's lease unless another tick holds a live one. Returns None when it is held,
    True when it was taken from a holder that stopped without giving it back (its tick never
    finished), False when it was free."""
    now = ensure_utc(now)
    with transaction(engine) as session:
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        session.execute(
            insert(SchedulerState)
            .values(key=LEASE_KEY, value=None, updated_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = session.execute(
            select(SchedulerState.value, SchedulerState.updated_at)
            .where(SchedulerState.key == LEASE_KEY)
            .with_for_update()
        ).one()
        if row.value is not None and row.updated_at > now - ttl:
            return None
        session.execute(
            update(SchedulerState).where(SchedulerState.key == LEASE_KEY).values(value=token, updated_at=now)
        )
        return row.value is not None


def renew_lease(session: Session, token: str, now: datetime) -> bool:
    """Extend the lease (in the caller's write transaction); False if it is no longer ours."""
    result = session.execute(
        update(SchedulerState)
        .where(SchedulerState.key == LEASE_KEY, SchedulerState.value == token)
        .values(updated_at=ensure_utc(now))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def give_lease(engine: Engine, token: str, now: datetime, *, planned_at: datetime | None = None) -> None:
    """Give the lease back; with `planned_at`, also note when the last tick finished (last_plan_at)."""
    now = ensure_utc(now)
    with transaction(engine) as session:
        session.execute(
            update(SchedulerState)
            .where(SchedulerState.key == LEASE_KEY, SchedulerState.value == token)
            .values(value=None, updated_at=now)
        )
        if planned_at is not None:
            _upsert(session, LAST_PLAN_KEY, ensure_utc(planned_at).isoformat(), now)


@dataclass(frozen=True)
class Book:
    """planned_until: the ledger holds the plan up to here. inputs: the fingerprint of what, when it
    changes, makes every stream's plan stale (off-hours rules, known streams, settings). rows and
    max_id: the broadcasts table's size when the tick began (a deleted row shows as a missing count)."""

    planned_until: datetime
    last_full_at: datetime
    inputs: str
    rows: int
    max_id: int


def read_book(session: Session) -> Book | None:
    value = session.scalar(select(SchedulerState.value).where(SchedulerState.key == BOOK_KEY))
    if not value:
        return None
    try:
        raw = json.loads(value)
        return Book(
            planned_until=ensure_utc(datetime.fromisoformat(raw["planned_until"])),
            last_full_at=ensure_utc(datetime.fromisoformat(raw["last_full_at"])),
            inputs=str(raw["inputs"]),
            rows=int(raw["rows"]),
            max_id=int(raw["max_id"]),
        )
    except (ValueError, KeyError, TypeError):
        return None  # unreadable bookkeeping: the next tick re-plans in full and writes it afresh


def write_book(session: Session, book: Book | None, now: datetime) -> None:
    value = None
    if book is not None:
        raw = asdict(book)
        raw["planned_until"] = book.planned_until.isoformat()
        raw["last_full_at"] = book.last_full_at.isoformat()
        value = json.dumps(raw, sort_keys=True)
    _upsert(session, BOOK_KEY, value, ensure_utc(now))


def _upsert(session: Session, key: str, value: str | None, now: datetime) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(SchedulerState).values(key=key, value=value, updated_at=now)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value, "updated_at": now})
    )


def broadcast_counts(session: Session, after_id: int) -> tuple[int, int, int]:
    """(rows, max id, rows with an id above after_id) of broadcasts, in one statement (one snapshot):
    rows < previous rows + new rows means some row was deleted since."""
    total = select(func.count()).select_from(Broadcast).scalar_subquery()
    top = select(func.coalesce(func.max(Broadcast.id), 0)).scalar_subquery()
    new = select(func.count()).select_from(Broadcast).where(Broadcast.id > after_id).scalar_subquery()
    rows, max_id, fresh = session.execute(select(total, top, new)).one()
    return int(rows), int(max_id), int(fresh)


def pending_spans(session: Session, source_ids: Collection[int]) -> dict[str, tuple[datetime, datetime]]:
    """(earliest, latest) due time of the pending actions of these broadcasts, per stream."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    ids = sorted(source_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = (
            select(actions.c.stream_id, func.min(actions.c.due_at), func.max(actions.c.due_at))
            .where(
                actions.c.state == "pending", actions.c.source == "broadcast", actions.c.source_id.in_(chunk)
            )
            .group_by(actions.c.stream_id)
        )
        for stream, low, high in session.execute(query):
            low, high = ensure_utc(low), ensure_utc(high)
            if stream in spans:
                low, high = min(low, spans[stream][0]), max(high, spans[stream][1])
            spans[stream] = (low, high)
    return spans


def pending_streams(session: Session) -> set[str]:
    """Streams with a pending action."""
    return set(session.scalars(select(actions.c.stream_id).distinct().where(actions.c.state == "pending")))

"""What the planner keeps between ticks: its lease (one tick at a time, across processes) and its
bookkeeping (how far ahead it has planned, when it last re-planned everything, and the fingerprints
of the inputs it re-plans in full when they change). Both live in scheduler_state rows."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    CompoundSelect,
    Engine,
    bindparam,
    exists,
    func,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.store import pauses, schedules
from worker.store.db import transaction
from worker.store.models import SchedulerState
from worker.store.sqlutil import actions
from worker.store.types import UTCDateTime

LEASE_KEY = "planner_lease"
BOOK_KEY = "planner_book"
# When the last planner tick finished (`onair timeline` shows it).
LAST_PLAN_KEY = "last_plan_at"
# Change counters kept by triggers (migration 0014): schedule_changes moves with every write of the
# streams, off-hours rules and series; broadcast_deletions with every deleted broadcasts row.
CHANGES_KEY = "schedule_changes"
DELETIONS_KEY = "broadcast_deletions"


def take_lease(
    engine: Engine, token: str, now: datetime, ttl: timedelta, *, glance_keys: Collection[str] = ()
) -> tuple[bool | None, Glance | None]:
    """Take the planner's lease unless another tick holds a live one; once taken, glance at the
    planner's state (glance_keys and the rest, see glance) in the same transaction. Returns (None,
    None) when it is held; (True, glance) when it was taken from a holder that stopped without giving
    it back (its tick never finished), (False, glance) when it was free."""
    now = ensure_utc(now)
    with transaction(engine) as session:
        taken = _take(session, token, now, ttl)
        return taken, None if taken is None else glance(session, glance_keys, now)


def look(engine: Engine, keys: Collection[str], now: datetime) -> Glance:
    """The glance without the lease, in one read-only statement: what an idle tick needs to see that
    it has nothing to do (and whether a tick is under way)."""
    with transaction(engine, immediate=False) as session:
        return glance(session, keys, now)


def _take(session: Session, token: str, now: datetime, ttl: timedelta) -> bool | None:
    # The usual case, a free lease, in one statement.
    free = session.execute(_TAKE_FREE, {"token": token, "now": now})
    if free.rowcount:  # type: ignore[attr-defined]
        return False
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
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


_RELEASE = (
    update(SchedulerState)
    .where(SchedulerState.key == LEASE_KEY, SchedulerState.value == bindparam("token"))
    .values(value=None, updated_at=bindparam("now", type_=UTCDateTime()))
)
_TAKE_FREE = (
    update(SchedulerState)
    .where(SchedulerState.key == LEASE_KEY, SchedulerState.value.is_(None))
    .values(value=bindparam("token"), updated_at=bindparam("now", type_=UTCDateTime()))
)


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
    with transaction(engine) as session:
        release_lease(session, token, now, planned_at=planned_at)


def release_lease(session: Session, token: str, now: datetime, *, planned_at: datetime | None = None) -> bool:
    """As give_lease, in the caller's write transaction; False if the lease was no longer `token`'s
    (another tick took it over)."""
    released = session.execute(_RELEASE, {"token": token, "now": ensure_utc(now)})
    if planned_at is not None:
        note_planned(session, planned_at)
    return bool(released.rowcount)  # type: ignore[attr-defined]


def hold_free_lease(session: Session, now: datetime) -> bool:
    """Whether no tick holds the lease, kept so until the caller's write transaction ends: the free
    lease's row is touched, so a tick taking it meanwhile waits for that transaction."""
    return bool(session.execute(_HOLD_FREE, {"now": ensure_utc(now)}).rowcount)  # type: ignore[attr-defined]


_HOLD_FREE = (
    update(SchedulerState)
    .where(SchedulerState.key == LEASE_KEY, SchedulerState.value.is_(None))
    .values(updated_at=bindparam("now", type_=UTCDateTime()))
)


def note_planned(session: Session, now: datetime) -> None:
    """When the planner last ticked successfully, as `onair timeline` shows it (last_plan_at)."""
    now = ensure_utc(now)
    _upsert(session, LAST_PLAN_KEY, now.isoformat(), now)


@dataclass(frozen=True)
class Book:
    """planned_until: the ledger holds the plan up to here. inputs: the fingerprint of what, when it
    changes, makes every stream's plan stale (off-hours rules, known streams, settings). settings: the
    part of it the process's settings make. changes and deletions: the change counters (migration
    0014) as the tick that wrote this book read them, before it read anything else. series_due_at:
    from then on a series may need a pass by time alone (None: not until a series row changes)."""

    planned_until: datetime
    last_full_at: datetime
    inputs: str
    settings: str
    changes: str | None
    deletions: str | None
    series_due_at: datetime | None


@dataclass(frozen=True)
class Glance:
    """What an idle tick reads, in one statement: the scheduler_state rows asked for (value,
    updated_at), the lease's among them, and whether any broadcast was written since the planner last
    judged it."""

    rows: dict[str, tuple[str | None, datetime]]
    unchecked: bool
    lapsed: bool = False  # a pause's until has passed

    @property
    def book(self) -> Book | None:
        found = self.rows.get(BOOK_KEY)
        return parse_book(found[0] if found else None)

    def value(self, key: str) -> str | None:
        found = self.rows.get(key)
        return found[0] if found else None

    def lease_held(self, now: datetime, ttl: timedelta) -> bool | None:
        """None: the lease is free; True: a tick holds it and wrote within `ttl`; False: its holder
        stopped (the next taker re-plans all)."""
        found = self.rows.get(LEASE_KEY)
        if found is None or found[0] is None:
            return None
        return found[1] > ensure_utc(now) - ttl


def glance(session: Session, keys: Collection[str], now: datetime) -> Glance:
    """The counters, the book, the lease and the other rows in `keys`, the needs_check probe and the
    lapsed pauses probe, in one statement (one snapshot): the counters are read before anything the
    tick plans from, so a change committed meanwhile shows next time."""
    wanted = sorted({BOOK_KEY, CHANGES_KEY, DELETIONS_KEY, LEASE_KEY, *keys})
    rows: dict[str, tuple[str | None, datetime]] = {}
    probes: set[str] = set()
    for key, value, at in session.execute(_GLANCE, {"keys": wanted, "now": ensure_utc(now)}):
        if key in (_UNCHECKED, _LAPSED):
            probes.add(key)
        else:
            rows[key] = (value, ensure_utc(at))
    return Glance(rows, _UNCHECKED in probes, _LAPSED in probes)


# Probe rows of the glance (no scheduler_state key starts with a space).
_UNCHECKED, _LAPSED = " unchecked", " lapsed"
_GLANCE: CompoundSelect[str, str | None, datetime] = union_all(
    select(SchedulerState.key, SchedulerState.value, SchedulerState.updated_at).where(
        SchedulerState.key.in_(bindparam("keys", expanding=True))
    ),
    select(literal(_UNCHECKED), null(), null()).where(schedules.UNCHECKED_PROBE.is_not(None)),
    select(literal(_LAPSED), null(), null()).where(exists(pauses.LAPSED_PROBE)),
)


def parse_book(value: str | None) -> Book | None:
    if not value:
        return None
    try:
        raw = json.loads(value)
        due = raw["series_due_at"]
        return Book(
            planned_until=ensure_utc(datetime.fromisoformat(raw["planned_until"])),
            last_full_at=ensure_utc(datetime.fromisoformat(raw["last_full_at"])),
            inputs=str(raw["inputs"]),
            settings=str(raw["settings"]),
            changes=raw["changes"],
            deletions=raw["deletions"],
            series_due_at=None if due is None else ensure_utc(datetime.fromisoformat(due)),
        )
    except (ValueError, KeyError, TypeError):
        return None  # unreadable (or older) bookkeeping: the next tick re-plans in full and writes it afresh


def write_book(session: Session, book: Book | None, now: datetime) -> None:
    value = None
    if book is not None:
        raw = asdict(book)
        raw["planned_until"] = book.planned_until.isoformat()
        raw["last_full_at"] = book.last_full_at.isoformat()
        raw["series_due_at"] = None if book.series_due_at is None else book.series_due_at.isoformat()
        value = json.dumps(raw, sort_keys=True)
    _upsert(session, BOOK_KEY, value, ensure_utc(now))


def _upsert(session: Session, key: str, value: str | None, now: datetime) -> None:
    schedules.set_state(session, key, value, now=now)


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

"""SQL of the retention prune: find finished actions older than the retention, fold them into
action_daily and delete them with their history, a batch per transaction; delete the other history
that grows (AGED: the controls' log, past series occurrences and their viewer figures, webhook events,
ended pauses, heartbeats of gone workers); read the figures back.

Only finished actions (a terminal state) are ever deleted, and an action's history goes with it, never
before it: a pending or claimed action keeps every event however old.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from worker.clock import ensure_utc
from worker.domain.retention import DailyFigure, PrunedAction
from worker.domain.types import TERMINAL_STATES, Source
from worker.store.backlog import CONSUMER_KEY_PREFIX, WORKER_KEY_PREFIX
from worker.store.db import SQLITE_BUSY_TIMEOUT_SECONDS
from worker.store.models import (
    Action,
    ActionDaily,
    ActionEvent,
    Broadcast,
    BroadcastViewers,
    SchedulerState,
    StreamPause,
    WebhookEvent,
)
from worker.store.sqlutil import chunked

CHECKPOINT_WAIT_MS = 1000
_FINISHED = sorted(s.value for s in TERMINAL_STATES)
_FIGURE_COLUMNS = ("actions", "timed", "lateness_p50_ms", "lateness_p99_ms", "lateness_max_ms")


def _old_finished(cut: datetime) -> ColumnElement[bool]:
    return and_(
        Action.state.in_(_FINISHED),
        Action.due_at < cut,
        or_(Action.finished_at.is_(None), Action.finished_at < cut),
    )


def oldest_prunable_due(session: Session, cut: datetime) -> datetime | None:
    """The due instant of the oldest finished action older than `cut` (ix_actions_due_at)."""
    found = session.scalar(select(func.min(Action.due_at)).where(_old_finished(ensure_utc(cut))))
    return None if found is None else ensure_utc(found)


def prunable_in(session: Session, start: datetime, end: datetime, cut: datetime) -> list[tuple[int, str]]:
    """(id, stream) of finished actions older than `cut` and due in [start, end), by stream."""
    query = (
        select(Action.id, Action.stream_id)
        .where(Action.due_at >= ensure_utc(start), Action.due_at < ensure_utc(end))
        .where(_old_finished(ensure_utc(cut)))
        .order_by(Action.stream_id, Action.id)
    )
    return [(int(i), str(s)) for i, s in session.execute(query)]


def unfinished_before(session: Session, cut: datetime) -> int:
    """Pending or claimed actions due before `cut`: kept, with their history, whatever their age."""
    query = select(func.count()).where(Action.due_at < ensure_utc(cut), Action.state.not_in(_FINISHED))
    return int(session.scalar(query) or 0)


def events_of(session: Session, ids: Collection[int]) -> int:
    total = 0
    for chunk in chunked(list(ids)):
        total += int(session.scalar(select(func.count()).where(ActionEvent.action_id.in_(chunk))) or 0)
    return total


def take(session: Session, ids: Sequence[int], cut: datetime) -> list[tuple[int, PrunedAction]]:
    """Lock the actions among `ids` still finished and old (skipping rows another prune holds on
    PostgreSQL) and return (id, PrunedAction) pairs with their lateness."""
    rows: list[Any] = []
    for chunk in chunked(ids):
        query = (
            select(Action.id, Action.stream_id, Action.kind, Action.state, Action.due_at)
            .where(Action.id.in_(chunk), _old_finished(ensure_utc(cut)))
            .with_for_update(skip_locked=True)
        )
        rows.extend(session.execute(query).all())
    sent = _first_calls(session, [r.id for r in rows])
    taken = []
    for r in rows:
        due = ensure_utc(r.due_at)
        at = sent.get(r.id)
        lateness = None if at is None else (at - due).total_seconds() * 1000.0
        taken.append((int(r.id), PrunedAction(r.stream_id, r.kind, r.state, due, lateness)))
    return taken


def _first_calls(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    """Per action, when its first attempt's first write left, else its first call (the state check)."""
    first: dict[int, tuple[bool, datetime]] = {}
    for chunk in chunked(ids):
        query = (
            select(ActionEvent.action_id, ActionEvent.http_method, ActionEvent.at)
            .where(
                ActionEvent.action_id.in_(chunk),
                ActionEvent.event == "api_call",
                ActionEvent.attempt == 1,
            )
            .order_by(ActionEvent.id)
        )
        for action_id, method, at in session.execute(query):
            seen = first.get(int(action_id or 0))
            write = method != "GET"
            if seen is None or (write and not seen[0]):
                first[int(action_id or 0)] = (write, ensure_utc(at))
    return {i: at for i, (_, at) in first.items()}


def add_figures(session: Session, figures: Sequence[DailyFigure]) -> None:
    """Insert figures, or fold them into the row of the same key (counts add, the larger lateness
    of each kind is kept: a later prune of the same day never understates it)."""
    if not figures:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(ActionDaily).values(
        [
            {"day": f.day, **{c: getattr(f, c) for c in ("stream_id", "kind", "state", *_FIGURE_COLUMNS)}}
            for f in figures
        ]
    )
    table, new = ActionDaily.__table__.c, stmt.excluded

    def larger(column: str) -> Any:
        if dialect == "postgresql":
            return func.greatest(table[column], new[column])  # NULLs are ignored
        # SQLite's two-argument max() is NULL when either is.
        return func.coalesce(func.max(table[column], new[column]), table[column], new[column])

    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "stream_id", "kind", "state"],
        set_={
            "actions": table.actions + new.actions,
            "timed": table.timed + new.timed,
            **{c: larger(c) for c in ("lateness_p50_ms", "lateness_p99_ms", "lateness_max_ms")},
        },
    )
    session.execute(stmt)


def _deleted(session: Session, stmt: Any) -> int:
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def delete_actions(session: Session, ids: Sequence[int]) -> tuple[int, int]:
    """Delete the actions and their history; (actions, events) deleted."""
    events = actions = 0
    for chunk in chunked(ids):
        events += _deleted(session, delete(ActionEvent).where(ActionEvent.action_id.in_(chunk)))
        actions += _deleted(session, delete(Action).where(Action.id.in_(chunk)))
    return actions, events


@dataclass(frozen=True)
class Aged:
    """Rows of one table that go whole once older than the cutoff: `old(cut)` says which, `key` is the
    primary key, and `dependents` are (table, column) rows that hang on a deleted row by that key
    and go first, counted under their own table."""

    table: str
    key: InstrumentedAttribute[Any]
    old: Callable[[datetime], ColumnElement[bool]]
    dependents: tuple[tuple[str, InstrumentedAttribute[Any]], ...] = ()


def _occurrence_done(cut: datetime) -> ColumnElement[bool]:
    """A series occurrence that ended before `cut` and has no action left (they were pruned first).
    One-off broadcasts and bookings are people's records and stay."""
    acted = select(Action.id).where(Action.source == Source.BROADCAST.value, Action.source_id == Broadcast.id)
    return and_(Broadcast.series_id.is_not(None), Broadcast.ends_at < cut, ~acted.exists())


ORPHAN_EVENTS = Aged(
    # History of no action: the controls' log (pauses, moves, edits, tokens); plain SQL may add more.
    "action_events",
    ActionEvent.id,
    lambda cut: and_(ActionEvent.action_id.is_(None), ActionEvent.at < cut),
)
OCCURRENCES = Aged(
    "broadcasts",
    Broadcast.id,
    _occurrence_done,
    dependents=(("broadcast_viewers", BroadcastViewers.broadcast_id),),
)
WEBHOOK_EVENTS = Aged(
    # A redelivery of an event this old (FastPix retries for minutes, not months) would be stored
    # again but change nothing: a stream's status moves only to a newer event (streams.status_at).
    "webhook_events",
    WebhookEvent.id,
    lambda cut: WebhookEvent.received_at < cut,
)
ENDED_PAUSES = Aged(
    # Only pauses someone (or `until`) ended: a pause in force has no resumed_at, however old.
    "stream_pauses",
    StreamPause.id,
    lambda cut: and_(StreamPause.resumed_at.is_not(None), StreamPause.resumed_at < cut),
)
GONE_WORKERS = Aged(
    # Heartbeats of workers (and consumers) silent since before the cutoff: renamed or retired hosts.
    "scheduler_state",
    SchedulerState.key,
    lambda cut: and_(
        or_(
            SchedulerState.key.startswith(WORKER_KEY_PREFIX, autoescape=True),
            SchedulerState.key.startswith(CONSUMER_KEY_PREFIX, autoescape=True),
        ),
        SchedulerState.updated_at < cut,
    ),
)
# In the order the prune takes them: occurrences after the actions that pointed at them.
AGED = (ORPHAN_EVENTS, OCCURRENCES, WEBHOOK_EVENTS, ENDED_PAUSES, GONE_WORKERS)


def aged_keys(session: Session, aged: Aged, cut: datetime, limit: int) -> list[Any]:
    query = select(aged.key).where(aged.old(ensure_utc(cut))).order_by(aged.key).limit(limit)
    return list(session.scalars(query))


def count_aged(session: Session, aged: Aged, cut: datetime) -> dict[str, int]:
    """How many rows of the table, and of each dependent table, a prune at `cut` would delete."""
    old = aged.old(ensure_utc(cut))
    found = {aged.table: int(session.scalar(select(func.count()).where(old)) or 0)}
    for table, column in aged.dependents:
        hanging = select(func.count()).where(column.in_(select(aged.key).where(old)))
        found[table] = int(session.scalar(hanging) or 0)
    return found


def delete_aged(session: Session, aged: Aged, keys: Sequence[Any]) -> dict[str, int]:
    """Delete the rows (dependents first); rows deleted per table."""
    found = dict.fromkeys([aged.table, *(t for t, _ in aged.dependents)], 0)
    for chunk in chunked(keys):
        for table, column in aged.dependents:
            found[table] += _deleted(session, delete(column.class_).where(column.in_(chunk)))
        found[aged.table] += _deleted(session, delete(aged.key.class_).where(aged.key.in_(chunk)))
    return found


def claim(session: Session, key: str, owner: str, now: datetime) -> bool:
    """Insert the scheduler_state key unless it exists: True for the one caller that inserted it."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(SchedulerState).values(key=key, value=owner, updated_at=ensure_utc(now))
    # RETURNING, not rowcount: the ORM-enabled insert does not report skipped conflicts in rowcount.
    inserted = stmt.on_conflict_do_nothing(index_elements=["key"]).returning(SchedulerState.key)
    return session.execute(inserted).first() is not None


def forget_claims(session: Session, prefix: str, older_than: datetime) -> None:
    session.execute(
        delete(SchedulerState).where(
            SchedulerState.key.startswith(prefix, autoescape=True),
            SchedulerState.updated_at < ensure_utc(older_than),
        )
    )


def read_figures(
    session: Session, since: date, until: date, stream_id: str | None = None
) -> list[DailyFigure]:
    """Figures of pruned actions due on UTC days in [since, until), by day, stream, kind and state."""
    query = select(ActionDaily).where(ActionDaily.day >= since, ActionDaily.day < until)
    if stream_id is not None:
        query = query.where(ActionDaily.stream_id == stream_id)
    query = query.order_by(ActionDaily.day, ActionDaily.stream_id, ActionDaily.kind, ActionDaily.state)
    return [
        DailyFigure(
            r.day,
            r.stream_id,
            r.kind,
            r.state,
            r.actions,
            r.timed,
            r.lateness_p50_ms,
            r.lateness_p99_ms,
            r.lateness_max_ms,
        )
        for r in session.scalars(query)
    ]


def checkpoint_wal(engine: Engine) -> tuple[int, int, int] | None:
    """On SQLite, copy the WAL into the database and truncate it to zero bytes (None elsewhere).

    Returns SQLite's (busy, WAL pages, pages checkpointed); busy=1 when a reader kept it from finishing.
    A TRUNCATE checkpoint holds new writers off while it waits for readers, so it waits one second at
    most, not the usual busy timeout; SQLite's automatic checkpoints and journal_size_limit (db.py)
    keep the file bounded meanwhile.
    """
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        try:
            busy, log, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
    return int(busy), int(log), int(done)

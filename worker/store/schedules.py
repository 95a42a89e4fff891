"""Reading schedules and writing the few facts the planner and the CLI keep: streams, invalid_reason,
scheduler_state. Queries are index range scans, so a tick costs what is in its window, not the table.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    case,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from worker.clock import ensure_utc
from worker.domain.text import printable
from worker.domain.types import Source
from worker.store.models import Broadcast, OffHours, Organiser, SchedulerState, Stream
from worker.store.sqlutil import chunked
from worker.store.types import UTCDateTime

# A broadcast is found by its ends_at (indexed) within [window_start, window_end + MAX_SPAN]: its lead
# plus its duration must not exceed this, or the planner would not see it until its end came near.
MAX_SPAN = timedelta(days=7)


def _planned() -> ColumnElement[bool]:
    """The rows the planner plans: those not cancelled, and those cancelled while their slot ran (it
    ends them at their cancel instant: worker.domain.cut_short)."""
    return or_(
        Broadcast.cancelled_at.is_(None),
        and_(Broadcast.cancelled_at > Broadcast.slot_starts_at, Broadcast.cancelled_at < Broadcast.ends_at),
    )


def load_broadcasts(
    session: Session, window_start: datetime, window_end: datetime, *, max_span: timedelta = MAX_SPAN
) -> list[Broadcast]:
    """Broadcasts not cancelled whose [starts_at - lead, ends_at] touches [window_start, window_end],
    including rows flagged invalid (the planner re-checks them, and clears the flag once fixed)."""
    query = _window_query(window_start, window_end, max_span).where(Broadcast.cancelled_at.is_(None))
    return list(session.scalars(query))


# What the planner reads of a broadcasts row, as plain rows (an ORM object each cost several times
# more): the columns worker.domain.specs.BroadcastRow names, its flag, and its slot start.
_PLAN_COLUMNS = (
    Broadcast.id,
    Broadcast.stream_id,
    Broadcast.starts_at,
    Broadcast.ends_at,
    Broadcast.lead_seconds,
    Broadcast.title,
    Broadcast.metadata_json.label("metadata_json"),
    Broadcast.reconnect_window,
    Broadcast.created_at,
    Broadcast.organiser_id,
    Organiser.name.label("organiser_name"),
    Broadcast.invalid_reason,
    Broadcast.slot_starts_at,
    Broadcast.cancelled_at,
)


def _plan_query(*where: ColumnElement[bool]) -> Select[Any]:
    query = (
        select(*_PLAN_COLUMNS)
        .outerjoin(Organiser, Organiser.id == Broadcast.organiser_id)
        .where(_planned(), *where)
    )
    return cast("Select[Any]", query)


def load_broadcast_rows_each(
    session: Session, window_start: datetime, window_end: datetime, *, max_span: timedelta = MAX_SPAN
) -> tuple[list[Row[Any]], dict[int, str]]:
    """As load_broadcasts, for the planner, as plain rows (the columns of _PLAN_COLUMNS), and (id ->
    reason) for rows whose stored values their column types cannot read, which would otherwise fail
    the whole load."""
    start, end = ensure_utc(window_start), ensure_utc(window_end)
    query = _plan_query(
        Broadcast.ends_at >= start,
        Broadcast.ends_at <= end + max_span,
        Broadcast.starts_at <= end + max_span,
        Broadcast.slot_starts_at <= end,
    ).order_by(Broadcast.starts_at, Broadcast.id)
    return _load_rows_each(session, query)


def load_stream_broadcast_rows_each(
    session: Session,
    streams: Collection[str],
    known: Collection[str],
    window_start: datetime,
    window_end: datetime,
    *,
    next_within: timedelta,
) -> tuple[list[Row[Any]], dict[int, str]]:
    """What planning these streams over [window_start, window_end] needs, as plain rows: the slots
    starting in the window; on each stream the slot before it if it runs into the window, and the
    first slot after it if it starts within `next_within` of the window's end (slots on a stream never
    overlap, so there is at most one of each). Three statements per 500 streams, each an index range
    or one index probe per stream, whatever the number of slots around the window."""
    start, end = ensure_utc(window_start), ensure_utc(window_end)
    rows: list[Row[Any]] = []
    unreadable: dict[int, str] = {}

    def add(found: tuple[list[Row[Any]], dict[int, str]]) -> None:
        rows.extend(found[0])
        unreadable.update(found[1])

    before = (Broadcast.slot_starts_at < start, Broadcast.slot_starts_at.desc())
    after = (
        and_(Broadcast.slot_starts_at > end, Broadcast.slot_starts_at <= end + next_within),
        Broadcast.slot_starts_at.asc(),
    )
    for chunk in chunked(sorted(streams)):
        inside = (Broadcast.stream_id.in_(chunk), Broadcast.slot_starts_at >= start)
        add(_load_rows_each(session, _plan_query(*inside, Broadcast.slot_starts_at <= end)))
        for where, order, keep in ((*before, Broadcast.ends_at >= start), (*after, true())):
            add(
                _load_rows_each(
                    session, _plan_query(Broadcast.id.in_(_neighbours(chunk, known, where, order)), keep)
                )
            )
    rows.sort(key=lambda b: (b.starts_at, b.id))
    return rows, unreadable


def _neighbours(
    streams: Sequence[str], known: Collection[str], where: ColumnElement[bool], order: Any
) -> Select[Any]:
    """The id of the first live broadcast by `order` meeting `where` on each stream: one index probe
    per stream, correlated to the streams table (a stream onair does not know is probed alone)."""
    first = select(Broadcast.id).where(_planned(), where).order_by(order).limit(1)
    registered = [s for s in streams if s in known]
    picks: list[Select[Any]] = []
    if registered:
        alias = aliased(Stream)
        pick = first.where(Broadcast.stream_id == alias.stream_id).correlate(alias).scalar_subquery()
        picks.append(select(pick).select_from(alias).where(alias.stream_id.in_(registered)))
    picks += [
        select(first.where(Broadcast.stream_id == s).scalar_subquery()) for s in streams if s not in known
    ]
    return picks[0] if len(picks) == 1 else union_all(*picks)  # type: ignore[return-value]


def _load_rows_each(session: Session, query: Select[Any]) -> tuple[list[Row[Any]], dict[int, str]]:
    """As _load_each, for plain rows."""
    return _each_readable(query, Broadcast.id, lambda q: list(session.execute(q)), session)


def load_off_hours_each(session: Session) -> tuple[list[OffHours], dict[int, str]]:
    """As load_off_hours, for the planner, with the rows that cannot be read apart (see above)."""
    return _load_each(session, OffHours, _off_hours_query())


def _load_each(
    session: Session, model: type[Broadcast] | type[OffHours], query: Select[Any]
) -> tuple[list[Any], dict[int, str]]:
    return _each_readable(query, model.id, lambda q: list(session.scalars(q)), session)


def _each_readable(
    query: Select[Any], id_column: Any, fetch: Callable[[Select[Any]], list[Any]], session: Session
) -> tuple[list[Any], dict[int, str]]:
    # One query normally; only when a value cannot be converted (SQLite stores anything, e.g. in a
    # copy made before the timestamp triggers) is each row loaded alone, to set the bad ones apart.
    try:
        return fetch(query), {}
    except DBAPIError:
        raise  # the database itself failed: not a row's fault
    except Exception:  # noqa: S110 - retried row by row below, where each failure is named
        pass
    rows: list[Any] = []
    unreadable: dict[int, str] = {}
    for row_id in session.scalars(query.with_only_columns(id_column)):
        try:
            rows.extend(fetch(query.where(id_column == row_id)))
        except DBAPIError:
            raise
        except Exception as exc:  # this row alone cannot be read: its reason, not the tick's failure
            unreadable[row_id] = f"row cannot be read: {type(exc).__name__}: {printable(str(exc))}"
    return rows, unreadable


def _window_query(window_start: datetime, window_end: datetime, max_span: timedelta) -> Select[Any]:
    start, end = ensure_utc(window_start), ensure_utc(window_end)
    return (
        select(Broadcast)
        .where(
            Broadcast.ends_at >= start,
            Broadcast.ends_at <= end + max_span,
            Broadcast.starts_at <= end + max_span,
            # Filtered in SQL, not after loading: rows ending within max_span of the window but
            # starting after it (a busy week ahead) cost an index entry each, not an ORM object.
            Broadcast.slot_starts_at <= end,
        )
        .order_by(Broadcast.starts_at, Broadcast.id)
    )


# At most this many written-but-unchecked broadcasts are judged per tick (a bulk INSERT of more is
# judged over the next ticks), so one tick's cost stays bounded.
CHECK_BATCH = 5000
# Written exactly as the partial index's predicate: SQLite uses a partial index only for a term that
# matches it (`needs_check IS 1`, SQLAlchemy's rendering of is_(True), scanned the whole table).
UNCHECKED = text("broadcasts.needs_check")
# Whether a broadcast was written since the planner last judged it: one probe of the partial index,
# a scalar subquery in id order (inside EXISTS, PostgreSQL drops the order and, with statistics from
# before the flags were cleared, scanned the whole table: 20 ms a tick for 35,000 rows).
UNCHECKED_PROBE = select(Broadcast.id).where(UNCHECKED).order_by(Broadcast.id).limit(1).scalar_subquery()


def claim_unchecked(session: Session, *, limit: int = CHECK_BATCH) -> list[int]:
    """Clear needs_check on (at most `limit`) broadcasts written since the planner last judged them,
    returning their ids: the caller judges them in this transaction. Clearing first, not after
    judging, means a write that commits meanwhile waits for this row lock and then sets the flag
    again (the trigger), so no change is ever marked judged unseen."""
    pick = select(Broadcast.id).where(UNCHECKED).order_by(Broadcast.id).limit(limit)
    claimed = session.execute(
        update(Broadcast)
        .where(Broadcast.id.in_(pick.scalar_subquery()))
        .values(needs_check=False)
        .returning(Broadcast.id)
        .execution_options(synchronize_session=False)
    )
    return [row_id for (row_id,) in claimed]


def flagged_broadcast_ids(session: Session) -> list[int]:
    """Live broadcasts carrying an invalid_reason (few; found through a partial index)."""
    return list(
        session.scalars(
            select(Broadcast.id).where(
                Broadcast.invalid_reason.is_not(None), Broadcast.cancelled_at.is_(None)
            )
        )
    )


def live_broadcasts(session: Session, ids: Collection[int]) -> tuple[list[Broadcast], dict[int, str]]:
    """The broadcasts with these ids that are not cancelled, in id order, and (id -> reason) for the
    ones whose stored values cannot be read."""
    found: list[Broadcast] = []
    unreadable: dict[int, str] = {}
    for chunk in chunked(sorted(ids)):
        query = select(Broadcast).where(Broadcast.id.in_(chunk), _planned())
        rows, lost = _load_each(session, Broadcast, query.order_by(Broadcast.id))
        found.extend(rows)
        unreadable.update(lost)
    return found, unreadable


def load_off_hours(session: Session) -> list[OffHours]:
    """Every off-hours rule not cancelled (a small table: rules, not occurrences)."""
    return list(session.scalars(_off_hours_query()))


def _off_hours_query() -> Select[Any]:
    return select(OffHours).where(OffHours.cancelled_at.is_(None)).order_by(OffHours.id)


def known_stream_ids(session: Session) -> set[str]:
    return set(session.scalars(select(Stream.stream_id)))


def streams_disabled_between_slots(session: Session) -> set[str]:
    """The streams whose between-slots policy is `disable`."""
    return set(session.scalars(select(Stream.stream_id).where(Stream.between_slots == "disable")))


def between_slots_of(session: Session, stream_ids: Collection[str]) -> dict[str, str]:
    """Each known stream's between-slots policy, among these ids."""
    found: dict[str, str] = {}
    for chunk in chunked(list(stream_ids)):
        query = select(Stream.stream_id, Stream.between_slots).where(Stream.stream_id.in_(chunk))
        found.update({str(i): str(p) for i, p in session.execute(query)})
    return found


def set_between_slots(session: Session, stream_id: str, policy: str) -> str | None:
    """Set a known stream's between-slots policy; returns the policy it had (None: no such stream)."""
    row = session.get(Stream, stream_id, with_for_update=True)
    if row is None:
        return None
    before = row.between_slots
    row.between_slots = policy
    return before


def upsert_stream(
    session: Session, stream_id: str, *, name: str | None, status: str | None, seen_at: datetime
) -> None:
    """Record a stream onair knows about (from a sync with FastPix, or registered by the CLI)."""
    upsert_streams(session, [(stream_id, name, status)], seen_at=seen_at)


def upsert_streams(
    session: Session, streams: Sequence[tuple[str, str | None, str | None]], *, seen_at: datetime
) -> None:
    """Record many (stream id, name, status) in one executemany, in the order given."""
    if not streams:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(Stream.__table__)  # type: ignore[arg-type]  # Core: no ORM bookkeeping per row
    # A status a webhook dated later than this read (webhook_store) is newer: it stays.
    newer = or_(Stream.status_at.is_(None), Stream.status_at <= stmt.excluded.status_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["stream_id"],
        set_={
            "name": stmt.excluded.name,
            "status": case((newer, stmt.excluded.status), else_=Stream.status),
            "status_at": case((newer, stmt.excluded.status_at), else_=Stream.status_at),
            "last_seen_at": stmt.excluded.last_seen_at,
        },
    )
    seen = ensure_utc(seen_at)
    rows = [
        {"stream_id": i, "name": n, "status": st, "status_at": seen, "last_seen_at": seen, "created_at": seen}
        for i, n, st in streams
    ]
    session.execute(stmt, rows)


_TABLES: dict[Source, type[Broadcast] | type[OffHours]] = {
    Source.BROADCAST: Broadcast,
    Source.OFF_HOURS: OffHours,
}
TABLE_NAMES = {source: str(table.__tablename__) for source, table in _TABLES.items()}


def set_invalid_reason(session: Session, source: Source, source_id: int, reason: str | None) -> bool:
    """Flag (or, with None, clear) a schedule row the planner cannot use. Writes only on change."""
    table = _TABLES[Source(source)]
    result = session.execute(
        update(table)
        .where(table.id == source_id, table.invalid_reason.is_distinct_from(reason))
        .values(invalid_reason=reason)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def sync_invalid_reasons(
    session: Session, invalid: Mapping[tuple[Source, int], str], checked: Collection[tuple[Source, int]]
) -> int:
    """After a planning pass: flag every row in `invalid`, clear the flag on the other `checked` rows
    that still carry one. Returns how many rows changed."""
    changed = sum(set_invalid_reason(session, s, i, reason) for (s, i), reason in invalid.items())
    for source, table in _TABLES.items():
        valid = [i for s, i in checked if s is source and (s, i) not in invalid]
        for chunk in chunked(valid):
            result = session.execute(
                update(table)
                .where(table.id.in_(chunk), table.invalid_reason.is_not(None))
                .values(invalid_reason=None)
                .execution_options(synchronize_session=False)
            )
            changed += result.rowcount  # type: ignore[attr-defined]
    return changed


def get_state(session: Session, key: str) -> str | None:
    return session.scalar(select(SchedulerState.value).where(SchedulerState.key == key))


def get_state_row(session: Session, key: str) -> tuple[str | None, datetime] | None:
    """(value, updated_at) for a scheduler_state key: e.g. the heartbeat's last tick and when."""
    row = session.execute(
        select(SchedulerState.value, SchedulerState.updated_at).where(SchedulerState.key == key)
    ).first()
    return None if row is None else (row.value, row.updated_at)


def set_state(session: Session, key: str, value: str | None, *, now: datetime) -> None:
    """Upsert one scheduler_state row (a statement built once per dialect: ticks write it often)."""
    dialect = session.get_bind().dialect.name
    session.execute(_SET_STATE[dialect == "postgresql"], {"key": key, "value": value, "now": ensure_utc(now)})


def _set_state_statement(insert: Any) -> Any:
    stmt = insert(SchedulerState).values(
        key=bindparam("key"), value=bindparam("value"), updated_at=bindparam("now", type_=UTCDateTime())
    )
    return stmt.on_conflict_do_update(
        index_elements=["key"], set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}
    )


# Indexed by "is PostgreSQL".
_SET_STATE = (_set_state_statement(sqlite.insert), _set_state_statement(postgresql.insert))

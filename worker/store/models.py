"""The schema. It is a public interface: operators write schedules with plain SQL (docs/schema.md).

Schedules (streams, broadcasts, off_hours) are what people enter; actions is the ledger the planner
derives from them; action_events is the history of everything that happened to an action.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from worker.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite compares timestamps as text, and operators may type them in several ISO forms;
# julianday() reads them all, so checks there compare instants, not strings.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _after(later: str, earlier: str, name: str) -> list[CheckConstraint]:
    return [
        CheckConstraint(f"{later} > {earlier}", name=name).ddl_if(dialect="postgresql"),
        CheckConstraint(f"julianday({later}) > julianday({earlier})", name=name).ddl_if(dialect="sqlite"),
    ]


def _now() -> ColumnElement[datetime]:
    return func.current_timestamp()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Stream(Base):
    """A FastPix stream onair knows about (synced from the API, or registered by the CLI)."""

    __tablename__ = "streams"
    __table_args__ = (CheckConstraint("between_slots IN ('keep', 'disable')", name="between_slots_known"),)

    stream_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(16))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When `status` was true: a webhook's created_at or the moment a GET read it (migration 0009).
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # keep | disable: whether the stream is disabled after each slot (migration 0010;
    # worker.domain.stream_policy).
    between_slots: Mapped[str] = mapped_column(String(16), server_default=text("'keep'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())


DEFAULT_LEAD_SECONDS = 300


def _slot_start(context: DefaultExecutionContext) -> datetime | None:
    # The database computes slot_starts_at itself (a trigger on each backend); this gives ORM objects
    # the same value at once, without a reload that SQLite's RETURNING (run before AFTER triggers) misses.
    params: dict[str, object] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    starts_at = params.get("starts_at")
    if not isinstance(starts_at, datetime):
        return None
    lead = params.get("lead_seconds")
    return starts_at - timedelta(seconds=lead if isinstance(lead, int) else DEFAULT_LEAD_SECONDS)


class Organiser(Base):
    """Someone who books slots; authenticates with a token shown once, stored as its sha256 hex."""

    __tablename__ = "organisers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    # Unique and indexed: a bearer token finds its organiser by this hash (migration 0005).
    token_hash: Mapped[str] = mapped_column(String(128), index=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    # `organiser` books slots; `ops` signs in to the ops pages (migration 0013).
    role: Mapped[str] = mapped_column(String(16), server_default="organiser")


class BroadcastSeries(Base):
    """A recurring broadcast: a cron start in a zone plus a duration, materialised as broadcasts rows."""

    __tablename__ = "broadcast_series"
    __table_args__ = (
        CheckConstraint("duration_seconds > 0", name="duration_positive"),
        CheckConstraint("lead_seconds >= 0", name="lead_not_negative"),
        CheckConstraint(
            "reconnect_window IS NULL OR reconnect_window BETWEEN 60 AND 1800", name="reconnect_window_range"
        ),
        CheckConstraint("occurrence_limit IS NULL OR occurrence_limit > 0", name="occurrence_limit_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String(64))
    cron: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), server_default=text("'UTC'"))
    duration_seconds: Mapped[int] = mapped_column(Integer)
    lead_seconds: Mapped[int] = mapped_column(Integer, server_default=text("300"))
    title: Mapped[str | None] = mapped_column(String(255))
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text)
    reconnect_window: Mapped[int | None] = mapped_column(Integer)
    # No occurrence starts before starts_from, or after until; at most occurrence_limit in all.
    starts_from: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    occurrence_limit: Mapped[int | None] = mapped_column(Integer)
    # Comma-separated local dates (YYYY-MM-DD, in `timezone`) whose occurrence is skipped.
    skip_dates: Mapped[str | None] = mapped_column(Text)
    organiser_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisers.id"))
    # Read-only: the organiser's name, None when organiser_id names nobody (checked before use).
    organiser_name: Mapped[str | None] = column_property(
        select(Organiser.name)
        .where(Organiser.id == organiser_id)
        .correlate_except(Organiser)
        .scalar_subquery()
    )
    materialized_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The materialiser's bookkeeping (migration 0003): a hash of what shaped the occurrences, and when.
    materialized_fingerprint: Mapped[str | None] = mapped_column(String(64))
    materialized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invalid_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())


class Broadcast(Base):
    """A broadcast slot: enable before it (lead), finish at its end.

    A booking when organiser_id is set, an occurrence of a series when series_id is set, else an ops
    broadcast. No two non-cancelled slots [slot_starts_at, ends_at) on one stream overlap: the database
    refuses it (an exclusion constraint on PostgreSQL, triggers on SQLite; see migration 0002).
    """

    __tablename__ = "broadcasts"
    __table_args__ = (
        *_after("ends_at", "starts_at", "ends_after_start"),
        CheckConstraint("lead_seconds >= 0", name="lead_not_negative"),
        CheckConstraint(
            "reconnect_window IS NULL OR reconnect_window BETWEEN 60 AND 1800", name="reconnect_window_range"
        ),
        Index(None, "stream_id", "starts_at"),
        Index(None, "stream_id", "slot_starts_at"),
        Index(None, "ends_at"),
        Index(None, "series_id"),
        Index(None, "organiser_id"),
        # Rows the planner has still to check, and rows it flagged (migration 0006).
        Index(
            "ix_broadcasts_needs_check",
            "id",
            postgresql_where=text("needs_check"),
            sqlite_where=text("needs_check"),
        ),
        Index(
            "ix_broadcasts_flagged",
            "id",
            postgresql_where=text("invalid_reason IS NOT NULL"),
            sqlite_where=text("invalid_reason IS NOT NULL"),
        ),
        # One live row per occurrence of a series (migration 0003).
        Index(
            None,
            "series_id",
            "starts_at",
            unique=True,
            postgresql_where=text("cancelled_at IS NULL"),
            sqlite_where=text("cancelled_at IS NULL"),
        ),
        ExcludeConstraint(
            (literal_column("stream_id"), "="),
            (literal_column("tstzrange(slot_starts_at, ends_at, '[)')"), "&&"),
            where=text("cancelled_at IS NULL"),
            using="gist",
            name="ex_broadcasts_no_overlap",
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lead_seconds: Mapped[int] = mapped_column(Integer, server_default=text("300"))
    # starts_at - lead_seconds, kept by the database (the server default is only a placeholder the
    # trigger replaces, so a plain-SQL INSERT need not name it).
    slot_starts_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=_slot_start, server_default=_now(), server_onupdate=FetchedValue()
    )
    title: Mapped[str | None] = mapped_column(String(255))
    # JSON object text, as FastPix takes it; kept as text so a bad hand-typed value is flagged, not fatal.
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text)
    reconnect_window: Mapped[int | None] = mapped_column(Integer)
    organiser_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisers.id"))
    series_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("broadcast_series.id"))
    # Read-only, loaded with the row: who booked it (plans and conflict messages name them).
    organiser_name: Mapped[str | None] = column_property(
        select(Organiser.name)
        .where(Organiser.id == organiser_id)
        .correlate_except(Organiser)
        .scalar_subquery()
    )
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # NULL: cancelled by a person (or not cancelled); set when onair cancelled it (a series edit).
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    invalid_reason: Mapped[str | None] = mapped_column(Text)
    # True from every write of a column the planner reads until the planner has judged the row, so
    # rows anywhere in time are validated on the next tick (set by a trigger; migration 0006).
    needs_check: Mapped[bool] = mapped_column(Boolean, server_default=true(), server_onupdate=FetchedValue())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())


class OffHours(Base):
    """A recurring window (cron start in a zone, plus a duration) during which a stream is disabled."""

    __tablename__ = "off_hours"
    __table_args__ = (CheckConstraint("duration_seconds > 0", name="duration_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # NULL means every known stream.
    stream_id: Mapped[str | None] = mapped_column(String(64))
    cron: Mapped[str] = mapped_column(String(255))
    duration_seconds: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), server_default=text("'UTC'"))
    label: Mapped[str | None] = mapped_column(String(255))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invalid_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())


def _live_index(name: str, *columns: str) -> Index:
    """An index on the ledger's live rows only (pending and claimed); queries name the same condition
    (sqlutil.IN_LIVE_INDEX) so that SQLite uses it."""
    live = "state IN ('pending', 'claimed')"
    return Index(name, *columns, postgresql_where=text(live), sqlite_where=text(live))


class Action(Base):
    """One planned action in the ledger: (stream, kind, instant), unique by idempotency_key."""

    __tablename__ = "actions"
    __table_args__ = (
        Index(None, "state", "next_attempt_at"),
        # The live rows only, which the dispatcher, reaper and missed-marker read (migration 0004).
        _live_index("ix_actions_live_state_next_attempt_at", "state", "next_attempt_at"),
        # The live rows by due time: a dispatcher tick reads the ones due by now, not the horizon
        # (migration 0016).
        _live_index("ix_actions_live_state_due_at", "state", "due_at"),
        Index(None, "stream_id", "due_at"),
        Index(None, "source", "source_id"),
        # The prune walks old actions one day at a time (migration 0008).
        Index(None, "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    stream_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[int | None] = mapped_column(BigId)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Order of actions due at the same instant on one stream (finish before disable).
    sequence: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    state: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    api_response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=_now())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ActionEvent(Base):
    """History: every state change and every API call, with who or what caused it."""

    __tablename__ = "action_events"
    __table_args__ = (Index(None, "action_id", "id"), Index(None, "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    action_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("actions.id", ondelete="CASCADE"))
    stream_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    attempt: Mapped[int | None] = mapped_column(Integer)
    http_method: Mapped[str | None] = mapped_column(String(8))
    http_path: Mapped[str | None] = mapped_column(String(255))
    http_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column()
    detail: Mapped[str | None] = mapped_column(Text)


class SchedulerState(Base):
    """Small key/value facts about the running scheduler: last tick, last sync."""

    __tablename__ = "scheduler_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """A FastPix webhook as received, once per event id (migration 0009); never its stream secrets."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index(None, "stream_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(128))
    stream_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))
    # The event's own created_at (FastPix's clock), which orders events; received_at is onair's.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BroadcastViewers(Base):
    """A broadcast's viewer-count samples as running figures, one row per sampled broadcast
    (migration 0011): the sampler claims each period's sample by moving `attempted_at`, then adds the
    count, or records why the call failed. Written by onair only."""

    __tablename__ = "broadcast_viewers"
    __table_args__ = (
        CheckConstraint("samples >= 0 AND total_viewers >= 0 AND failures >= 0", name="counts_not_negative"),
    )

    broadcast_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True
    )
    stream_id: Mapped[str] = mapped_column(String(64))
    samples: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total_viewers: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    peak_viewers: Mapped[int | None] = mapped_column(Integer)
    peak_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_viewers: Mapped[int | None] = mapped_column(Integer)
    sampled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ActionDaily(Base):
    """Figures of pruned actions, per UTC day of their due instant, stream, kind and final state.

    `onair db prune` writes them in the transaction that deletes the actions (migration 0008), so the
    report and doctor can still count what happened after the rows are gone. Lateness is from the due
    instant to the first attempt's first call (the write, else the state check), in milliseconds.
    """

    __tablename__ = "action_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    stream_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    actions: Mapped[int] = mapped_column(Integer)
    # How many of them made a call, and so have a lateness.
    timed: Mapped[int] = mapped_column(Integer)
    lateness_p50_ms: Mapped[float | None] = mapped_column(Float)
    lateness_p99_ms: Mapped[float | None] = mapped_column(Float)
    lateness_max_ms: Mapped[float | None] = mapped_column(Float)


class StreamPause(Base):
    """An operator's pause of a stream: onair sends it no act while the pause holds (migration 0012).

    In force while `resumed_at` is NULL and `until` is NULL or ahead; kept afterwards as history.
    """

    __tablename__ = "stream_pauses"
    __table_args__ = (
        Index(None, "stream_id", "paused_at"),
        Index(
            "ix_stream_pauses_open",
            "stream_id",
            postgresql_where=text("resumed_at IS NULL"),
            sqlite_where=text("resumed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String(64))
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The OS user, organiser or `api` who paused it, and who ended it (`onair` when `until` passed).
    paused_by: Mapped[str] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resumed_by: Mapped[str | None] = mapped_column(String(255))

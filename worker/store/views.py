"""The reads the front doors show (through the service layer): schedule rows by id and in lists, the
ledger's actions of a schedule row or still to run, and the history events of actions."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.domain.types import ActionState
from worker.store.models import Action, ActionEvent, Broadcast, BroadcastSeries, OffHours, Organiser, Stream
from worker.store.sqlutil import chunked

UNDER_WAY = (ActionState.PENDING.value, ActionState.CLAIMED.value)

Row = TypeVar("Row", Broadcast, BroadcastSeries, OffHours, Action, Stream, Organiser)


def find(session: Session, model: type[Row], row_id: int | str) -> Row | None:
    return session.get(model, row_id)


def slots(
    session: Session,
    now: datetime,
    stream: str | None = None,
    include_all: bool = False,
    bookings_only: bool = False,
    organiser_id: int | None = None,
) -> list[Broadcast]:
    """Broadcasts rows in start order (one stream's, bookings only, one organiser's, if asked); only
    upcoming and running ones unless `include_all` (ended and cancelled too)."""
    query = select(Broadcast).order_by(Broadcast.starts_at, Broadcast.id)
    if stream is not None:
        query = query.where(Broadcast.stream_id == stream)
    if bookings_only:
        query = query.where(Broadcast.organiser_id.is_not(None))
    if organiser_id is not None:
        query = query.where(Broadcast.organiser_id == organiser_id)
    if not include_all:
        query = query.where(Broadcast.cancelled_at.is_(None), Broadcast.ends_at > now)
    return list(session.scalars(query))


def slots_between(
    session: Session, start: datetime, end: datetime, stream: str | None = None
) -> list[Broadcast]:
    """Slots not cancelled whose [slot start, end) touches [start, end), by slot start."""
    query = select(Broadcast).where(
        Broadcast.cancelled_at.is_(None), Broadcast.slot_starts_at < end, Broadcast.ends_at > start
    )
    if stream is not None:
        query = query.where(Broadcast.stream_id == stream)
    return list(session.scalars(query.order_by(Broadcast.slot_starts_at, Broadcast.id)))


def broadcasts_by_ids(session: Session, ids: Collection[int]) -> list[Broadcast]:
    """These broadcasts, by slot start."""
    if not ids:
        return []
    query = select(Broadcast).where(Broadcast.id.in_(list(ids))).order_by(Broadcast.slot_starts_at)
    return list(session.scalars(query))


def broadcast_owners(session: Session, ids: Collection[int]) -> dict[int, int | None]:
    """Who booked each of these broadcasts (None for an ops broadcast)."""
    found: dict[int, int | None] = {}
    for chunk in chunked(list(ids)):
        query = select(Broadcast.id, Broadcast.organiser_id).where(Broadcast.id.in_(chunk))
        found.update({row_id: owner for row_id, owner in session.execute(query)})
    return found


def occurrences_ahead(session: Session, series_id: int, now: datetime, limit: int) -> list[Broadcast]:
    """A series' broadcasts rows that have not ended, first `limit` by start."""
    query = (
        select(Broadcast)
        .where(Broadcast.series_id == series_id, Broadcast.ends_at > now)
        .order_by(Broadcast.starts_at, Broadcast.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def occurrences_cancelled_for(session: Session, series_id: int, reason: str) -> int:
    """How many of a series' rows the materialiser cancelled with this reason."""
    query = (
        select(func.count())
        .select_from(Broadcast)
        .where(Broadcast.series_id == series_id, Broadcast.cancel_reason == reason)
    )
    return int(session.scalar(query) or 0)


def series_rows(session: Session, *, include_all: bool) -> list[BroadcastSeries]:
    query = select(BroadcastSeries).order_by(BroadcastSeries.id)
    if not include_all:
        query = query.where(BroadcastSeries.cancelled_at.is_(None))
    return list(session.scalars(query))


def off_hours_rows(session: Session, *, include_all: bool) -> list[OffHours]:
    query = select(OffHours).order_by(OffHours.id)
    if not include_all:
        query = query.where(OffHours.cancelled_at.is_(None))
    return list(session.scalars(query))


def stream_names(session: Session) -> dict[str, str | None]:
    """Every stream onair knows, with its name (None when it has none)."""
    return {sid: name for sid, name in session.execute(select(Stream.stream_id, Stream.name))}


def streams(session: Session) -> list[Stream]:
    return list(session.scalars(select(Stream).order_by(Stream.stream_id)))


def actions_of(session: Session, source: str, source_id: int) -> list[Action]:
    """One schedule row's actions, in due order."""
    query = (
        select(Action)
        .where(Action.source == source, Action.source_id == source_id)
        .order_by(Action.due_at, Action.sequence, Action.id)
    )
    return list(session.scalars(query))


def action_states_of(session: Session, source: str, source_id: int) -> dict[int, str]:
    """Each of one schedule row's actions: id -> state."""
    query = select(Action.id, Action.state).where(Action.source == source, Action.source_id == source_id)
    return {action_id: state for action_id, state in session.execute(query)}


def all_actions(session: Session) -> list[Action]:
    return list(session.scalars(select(Action).order_by(Action.due_at, Action.sequence, Action.id)))


def actions_under_way(session: Session, until: datetime, stream: str | None = None) -> list[Action]:
    """Pending and claimed actions due by `until` (on one stream if given), in due order."""
    query = (
        select(Action)
        .where(Action.state.in_(UNDER_WAY), Action.due_at <= until)
        .order_by(Action.due_at, Action.sequence, Action.id)
    )
    if stream is not None:
        query = query.where(Action.stream_id == stream)
    return list(session.scalars(query))


def idempotency_keys_due(session: Session, since: datetime, until: datetime) -> set[str]:
    query = select(Action.idempotency_key).where(Action.due_at >= since, Action.due_at <= until)
    return set(session.scalars(query))


def events_of(session: Session, action_ids: Collection[int]) -> list[ActionEvent]:
    """The history events of these actions, oldest first."""
    found: list[ActionEvent] = []
    for chunk in chunked(list(action_ids)):
        query = select(ActionEvent).where(ActionEvent.action_id.in_(chunk)).order_by(ActionEvent.id)
        found.extend(session.scalars(query))
    found.sort(key=lambda e: e.id)
    return found

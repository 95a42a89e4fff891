"""Bookings: an organiser's slots on shared streams, as the HTTP API (and any other front end) makes them.

A booking is a broadcasts row with organiser_id set. It is held to the rules of every slot
(service.slots: the same as `onair book add`), with the fields named as the API takes them; the
no-overlap rule lives in store.slots (and in the database itself). This module adds ownership (an
organiser sees and changes only their own bookings) and a re-plan right after each change, so the
ledger shows the result at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.specs import BroadcastSpec
from worker.service.cancelling import Closed, Schedule, cancel
from worker.service.errors import InvalidInput, Problem
from worker.service.replanning import API_WAIT_SECONDS, replan
from worker.service.slots import slot_problems
from worker.service.text import iso_z
from worker.store import views
from worker.store.db import transaction
from worker.store.events import record_event
from worker.store.models import Broadcast
from worker.store.schedules import known_stream_ids
from worker.store.slots import insert_slot, move_slot

STREAM_HINT = ": GET /v1/streams lists the streams"
# The API takes the lead in whole seconds; the slot rules name it `lead`.
_API_FIELDS = {"lead": "lead_seconds", "metadata": "booking", "reconnect_window": "booking"}


class BookingNotFound(LookupError):
    """No booking of this organiser has that id (it may not exist, or belong to someone else)."""


class BookingClosed(ValueError):
    """The booking is cancelled or has ended, so it can no longer be changed."""


@dataclass(frozen=True)
class BookingInput:
    stream_id: str
    starts_at: datetime
    ends_at: datetime
    lead_seconds: int
    title: str | None


def booking_problems(
    wanted: BookingInput, *, now: datetime, known_streams: set[str], start_changed: bool = True
) -> list[Problem]:
    """Every reason the booking cannot be made, each naming its API field; empty when it can.

    A start in the past is refused only when the start is being set (moving the end of a booking that
    is on air is fine)."""
    spec = BroadcastSpec(
        id=0,
        stream_id=wanted.stream_id,
        starts_at=wanted.starts_at,
        ends_at=wanted.ends_at,
        lead=timedelta(seconds=wanted.lead_seconds),
        title=wanted.title,
    )
    found = slot_problems(
        spec, now=now, known_streams=known_streams, stream_hint=STREAM_HINT, start_changed=start_changed
    )
    return [replace(p, field=_API_FIELDS.get(p.field, p.field)) for p in found]


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise InvalidInput(problems)


def create_booking(
    settings: OnairSettings, engine: Engine, clock: Clock, organiser_id: int, wanted: BookingInput
) -> int:
    """Book the slot and re-plan; the new booking's id. InvalidInput naming each field at fault, or
    SlotConflict (its `conflicting_ids`) when the slot overlaps another."""
    now = clock.now()
    with transaction(engine) as session:
        _refuse(booking_problems(wanted, now=now, known_streams=known_stream_ids(session)))
        row = Broadcast(
            stream_id=wanted.stream_id,
            starts_at=wanted.starts_at,
            ends_at=wanted.ends_at,
            lead_seconds=wanted.lead_seconds,
            title=wanted.title,
            organiser_id=organiser_id,
            created_at=now,
            updated_at=now,
        )
        booking_id = insert_slot(session, row).id
    replan(settings, engine, clock=clock, wait=API_WAIT_SECONDS)
    return booking_id


def change_booking(
    settings: OnairSettings,
    engine: Engine,
    clock: Clock,
    organiser_id: int,
    booking_id: int,
    *,
    starts_at: datetime | None,
    ends_at: datetime | None,
    title: str | None,
    title_given: bool,
    actor: str = "api",
) -> None:
    """Move an open booking (start and/or end: None keeps it) or rename it, then re-plan; the change
    goes to the stream's history as `actor`'s. BookingNotFound, BookingClosed, InvalidInput or
    SlotConflict."""
    now = clock.now()
    with transaction(engine) as session:
        row = own_booking(session, organiser_id, booking_id)
        ensure_open(row, now)
        wanted = BookingInput(
            row.stream_id,
            starts_at or row.starts_at,
            ends_at or row.ends_at,
            row.lead_seconds,
            title if title_given else row.title,
        )
        moved_start = wanted.starts_at != row.starts_at
        _refuse(booking_problems(wanted, now=now, known_streams={row.stream_id}, start_changed=moved_start))
        said = []
        if (wanted.starts_at, wanted.ends_at) != (row.starts_at, row.ends_at):
            said.append(
                f"moved from {iso_z(row.starts_at)}-{iso_z(row.ends_at)} "
                f"to {iso_z(wanted.starts_at)}-{iso_z(wanted.ends_at)}"
            )
            row = move_slot(session, row.id, starts_at=wanted.starts_at, ends_at=wanted.ends_at, now=now)
        if wanted.title != row.title:
            said.append(f"title {row.title!r} -> {wanted.title!r}")
            row.title, row.updated_at = wanted.title, now
            session.flush()
        if said:
            record_event(
                session,
                action_id=None,
                stream_id=row.stream_id,
                actor=actor,
                event="broadcast_changed",
                detail=f"booking #{row.id} {'; '.join(said)} (by {actor})",
                now=now,
            )
    replan(settings, engine, clock=clock, wait=API_WAIT_SECONDS)


def cancel_booking(
    settings: OnairSettings,
    engine: Engine,
    clock: Clock,
    organiser_id: int,
    booking_id: int,
    *,
    actor: str = "api",
) -> None:
    """Cancel the booking (its slot is free at once) and re-plan, as every cancel does
    (service.cancelling: one that is on air ends now). Cancelling a cancelled booking changes nothing;
    an ended one is BookingClosed."""
    with transaction(engine, immediate=False) as session:
        own_booking(session, organiser_id, booking_id)
    try:
        cancel(
            settings,
            engine,
            Schedule.BROADCAST,
            booking_id,
            now=clock.now(),
            clock=clock,
            wait=API_WAIT_SECONDS,
            actor=actor,
        )
    except Closed as ended:
        raise BookingClosed(ended.message) from None


def own_booking(session: Session, organiser_id: int, booking_id: int) -> Broadcast:
    """The organiser's booking with this id; BookingNotFound for anyone else's row or an ops broadcast."""
    row = views.find(session, Broadcast, booking_id)
    if row is None or row.organiser_id != organiser_id:
        raise BookingNotFound(f"you have no booking with id {booking_id}")
    return row


def bookings_of(session: Session, organiser_id: int, *, now: datetime, include_past: bool) -> list[Broadcast]:
    """The organiser's bookings, earliest first: upcoming and running ones, or all with include_past."""
    return views.slots(session, now, include_all=include_past, organiser_id=organiser_id)


def ensure_open(row: Broadcast, now: datetime) -> None:
    if row.cancelled_at is not None:
        raise BookingClosed(f"booking {row.id} was cancelled at {iso_z(row.cancelled_at)}: book a new slot")
    if row.ends_at <= now:
        raise BookingClosed(f"booking {row.id} ended at {iso_z(row.ends_at)}: it can no longer change")

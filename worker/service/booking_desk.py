"""What an organiser does on the pages: book, move and cancel their own bookings, through the same
service functions as the API (service.bookings: the same checks, then a re-plan), with a conflict
said in terms of the slots in the way and the next free slot of the same length."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.free_slot import next_free_start
from worker.service.bookings import (
    BookingInput,
    cancel_booking,
    change_booking,
    create_booking,
    own_booking,
)
from worker.store import views
from worker.store.db import transaction
from worker.store.models import Broadcast
from worker.store.observations import stream_names
from worker.store.schedules import known_stream_ids
from worker.store.slots import SlotConflict, find_conflicts, slot_start

# How far past the wanted start the next free slot is looked for.
FREE_SLOT_HORIZON = timedelta(days=30)


@dataclass(frozen=True)
class TakenSlot:
    """A slot in the way: the organiser's own booking (id and title shown) or someone else's (busy)."""

    mine: bool
    id: int | None
    title: str | None
    starts_at: datetime  # the slot's start, lead included
    ends_at: datetime


class BookingCollides(ValueError):
    """The slot overlaps others on the stream; `taken` names them, `free_at` is the next free slot of
    the same length (start, end), None when there is none within FREE_SLOT_HORIZON."""

    def __init__(self, taken: list[TakenSlot], free_at: tuple[datetime, datetime] | None) -> None:
        super().__init__(f"the slot overlaps {len(taken)} other slot(s) on this stream (lead included)")
        self.taken = taken
        self.free_at = free_at


@dataclass(frozen=True)
class StreamChoice:
    stream_id: str
    name: str


@dataclass(frozen=True)
class BookingView:
    id: int
    stream_id: str
    stream: str
    title: str | None
    starts_at: datetime
    ends_at: datetime
    lead_seconds: int
    cancelled: bool
    ended: bool


def streams_to_book(engine: Engine) -> list[StreamChoice]:
    """Every stream onair knows, by name (its id when it has none), sorted by name."""
    with transaction(engine, immediate=False) as session:
        names = stream_names(session)
        ids = known_stream_ids(session)
    return sorted(
        (StreamChoice(i, names.get(i) or i) for i in ids), key=lambda s: (s.name.lower(), s.stream_id)
    )


def book(
    settings: OnairSettings, engine: Engine, clock: Clock, organiser_id: int, wanted: BookingInput
) -> int:
    """The new booking's id (the plan follows at once). InvalidInput names each field at fault;
    BookingCollides says what is in the way and what would fit."""
    try:
        return create_booking(settings, engine, clock, organiser_id, wanted)
    except SlotConflict as conflict:
        raise _collides(engine, conflict, organiser_id, wanted, None) from None


def move(
    settings: OnairSettings,
    engine: Engine,
    clock: Clock,
    organiser_id: int,
    booking_id: int,
    *,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
) -> None:
    """Give the organiser's open booking new times (the plan follows), recorded in the stream's history
    as `actor`'s. BookingNotFound, BookingClosed, InvalidInput or BookingCollides say why not."""
    try:
        change_booking(
            settings,
            engine,
            clock,
            organiser_id,
            booking_id,
            starts_at=starts_at,
            ends_at=ends_at,
            title=None,
            title_given=False,
            actor=actor,
        )
    except SlotConflict as conflict:
        with transaction(engine, immediate=False) as session:
            row = own_booking(session, organiser_id, booking_id)
            wanted = BookingInput(row.stream_id, starts_at, ends_at, row.lead_seconds, row.title)
        raise _collides(engine, conflict, organiser_id, wanted, booking_id) from None


def cancel(
    settings: OnairSettings,
    engine: Engine,
    clock: Clock,
    organiser_id: int,
    booking_id: int,
    *,
    actor: str,
) -> None:
    """Cancel the organiser's booking (BookingNotFound, or BookingClosed once it has ended); one on air
    ends now."""
    cancel_booking(settings, engine, clock, organiser_id, booking_id, actor=actor)


def booking_view(engine: Engine, organiser_id: int, booking_id: int, *, now: datetime) -> BookingView:
    """The organiser's booking as a page shows it (BookingNotFound for anyone else's)."""
    with transaction(engine, immediate=False) as session:
        row = own_booking(session, organiser_id, booking_id)
        name = stream_names(session).get(row.stream_id) or row.stream_id
        return BookingView(
            row.id,
            row.stream_id,
            name,
            row.title,
            row.starts_at,
            row.ends_at,
            row.lead_seconds,
            row.cancelled_at is not None,
            row.ends_at <= now,
        )


def next_free_slot(
    session: Session, wanted: BookingInput, *, exclude_id: int | None = None
) -> tuple[datetime, datetime] | None:
    """The earliest (start, end) of the wanted length at or after its start that collides with nothing
    on its stream (lead included), within FREE_SLOT_HORIZON; None past that."""
    lead = timedelta(seconds=wanted.lead_seconds)
    length = wanted.ends_at - wanted.starts_at
    horizon = wanted.starts_at + FREE_SLOT_HORIZON
    busy = find_conflicts(
        session,
        wanted.stream_id,
        slot_start(wanted.starts_at, wanted.lead_seconds),
        horizon + length,
        exclude_id=exclude_id,
    )
    start = next_free_start(
        [(r.slot_starts_at, r.ends_at) for r in busy], wanted_start=wanted.starts_at, length=length, lead=lead
    )
    return None if start > horizon else (start, start + length)


def _collides(
    engine: Engine, conflict: SlotConflict, organiser_id: int, wanted: BookingInput, exclude_id: int | None
) -> BookingCollides:
    with transaction(engine, immediate=False) as session:
        rows = [
            r for r in (views.find(session, Broadcast, i) for i in conflict.conflicting_ids) if r is not None
        ]
        taken = [
            TakenSlot(
                mine=r.organiser_id == organiser_id,
                id=r.id if r.organiser_id == organiser_id else None,
                title=r.title if r.organiser_id == organiser_id else None,
                starts_at=r.slot_starts_at,
                ends_at=r.ends_at,
            )
            for r in rows
        ]
        free_at = next_free_slot(session, wanted, exclude_id=exclude_id)
    return BookingCollides(sorted(taken, key=lambda t: t.starts_at), free_at)

"""/v1/bookings: an organiser's own bookings: create, list, read, move or rename, cancel.

Someone else's booking and an ops broadcast both answer 404: the API does not say whether a row it
will not show exists. Every change is followed by a re-plan, so the reply already carries the
booking's actions as the ledger now has them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import tzinfo
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from worker.api.context import ApiContext
from worker.api.deps import Ctx, JsonBody, Reader, Who
from worker.api.errors import ApiError, invalid, invalid_field, not_found
from worker.api.responses import errors
from worker.api.schemas import (
    BookingCreate,
    BookingId,
    BookingList,
    BookingOut,
    BookingPatch,
    BookingsQuery,
    DisplayQuery,
    FieldError,
)
from worker.api.times import zone_or_error
from worker.api.views import booking_out, busy_slot
from worker.domain.lead_conflicts import InTheWay, explain_lead
from worker.domain.text import show_span
from worker.service import bookings
from worker.service.booking_views import actions_of, conflicting_slots
from worker.service.bookings import BookingClosed, BookingInput, BookingNotFound, bookings_of, own_booking
from worker.service.database import reading
from worker.service.errors import InvalidInput, SlotConflict
from worker.service.outcomes import signals_of
from worker.service.records import Broadcast
from worker.service.viewers import viewer_figures

router = APIRouter(tags=["bookings"])

Display = Annotated[DisplayQuery, Query()]
PathBookingId = Annotated[BookingId, Path(description="the booking's id")]
_MOVE_REFUSED = "the new slot overlaps another, or the booking is cancelled or ended"


@router.post(
    "/v1/bookings",
    status_code=201,
    operation_id="createBooking",
    summary="Book [start - lead, end) on a stream, unless it overlaps another slot",
    response_description="the new booking, with its planned actions",
    responses=errors(401, 409, 413, 415, 422, s409="the slot overlaps another; the error names it"),
    dependencies=[JsonBody],
)
def create(body: BookingCreate, query: Display, who: Who, ctx: Ctx) -> BookingOut:
    zone = _zone(query)
    lead = body.lead_seconds if body.lead_seconds is not None else ctx.settings.default_lead_seconds
    wanted = BookingInput(body.stream_id, body.start, body.end, lead, body.title)
    with _refusals(ctx, who.organiser_id, zone):
        booking_id = bookings.create_booking(ctx.settings, ctx.engine, ctx.clock, who.organiser_id, wanted)
    return _answer(ctx, who.organiser_id, booking_id, zone)


@router.get(
    "/v1/bookings",
    operation_id="listBookings",
    summary="Your bookings: upcoming and running, or all of them with ?all=true",
    response_description="your bookings, earliest first",
    responses=errors(401, 422),
)
def list_mine(query: Annotated[BookingsQuery, Query()], who: Who, ctx: Ctx, session: Reader) -> BookingList:
    zone = _zone(query)
    now = ctx.clock.now()
    rows = bookings_of(session, who.organiser_id, now=now, include_past=query.all)
    actions = actions_of(session, [r.id for r in rows])
    signals = signals_of(session, rows)
    audience = viewer_figures(session, [r.id for r in rows])
    return BookingList(
        bookings=[booking_out(r, actions[r.id], zone, now, signals[r.id], audience.get(r.id)) for r in rows]
    )


@router.get(
    "/v1/bookings/{booking_id}",
    operation_id="getBooking",
    summary="One of your bookings, with its planned actions",
    response_description="the booking",
    responses=errors(401, 404, 422),
)
def read(booking_id: PathBookingId, query: Display, who: Who, ctx: Ctx, session: Reader) -> BookingOut:
    zone = _zone(query)
    row = _own(session, who.organiser_id, booking_id)
    actions = actions_of(session, [row.id])[row.id]
    signal = signals_of(session, [row])[row.id]
    audience = viewer_figures(session, [row.id]).get(row.id)
    return booking_out(row, actions, zone, ctx.clock.now(), signal, audience)


@router.patch(
    "/v1/bookings/{booking_id}",
    operation_id="changeBooking",
    summary="Move (start and/or end) or rename one of your bookings; the plan follows at once",
    response_description="the booking as it is now, with its re-planned actions",
    responses=errors(401, 404, 409, 413, 415, 422, s409=_MOVE_REFUSED),
    dependencies=[JsonBody],
)
def change(booking_id: PathBookingId, body: BookingPatch, query: Display, who: Who, ctx: Ctx) -> BookingOut:
    given = body.model_fields_set
    if not given:
        raise invalid_field("body", "give at least one of start, end, title")
    nulls = [
        FieldError(name=f, message="cannot be null")
        for f in ("start", "end")
        if f in given and getattr(body, f) is None
    ]
    if nulls:
        raise invalid(nulls)
    zone = _zone(query)
    with _refusals(ctx, who.organiser_id, zone):
        bookings.change_booking(
            ctx.settings,
            ctx.engine,
            ctx.clock,
            who.organiser_id,
            booking_id,
            starts_at=body.start,
            ends_at=body.end,
            title=body.title,
            title_given="title" in given,
            actor=who.name,
        )
    return _answer(ctx, who.organiser_id, booking_id, zone)


@router.delete(
    "/v1/bookings/{booking_id}",
    operation_id="cancelBooking",
    summary="Cancel one of your bookings: its slot is free and its pending actions are cancelled",
    response_description="the cancelled booking (cancelling twice changes nothing)",
    responses=errors(401, 404, 409, 422, s409="the booking has ended"),
)
def cancel(booking_id: PathBookingId, query: Display, who: Who, ctx: Ctx) -> BookingOut:
    zone = _zone(query)
    with _refusals(ctx, who.organiser_id, zone):
        bookings.cancel_booking(
            ctx.settings, ctx.engine, ctx.clock, who.organiser_id, booking_id, actor=who.name
        )
    return _answer(ctx, who.organiser_id, booking_id, zone)


def _zone(query: DisplayQuery) -> tzinfo | None:
    return zone_or_error(query.tz) if query.tz else None


def _own(session: Session, organiser_id: int, booking_id: int) -> Broadcast:
    try:
        return own_booking(session, organiser_id, booking_id)
    except BookingNotFound as missing:
        raise not_found(str(missing)) from None


@contextmanager
def _refusals(ctx: ApiContext, caller_id: int, zone: tzinfo | None) -> Iterator[None]:
    """The service's refusals as the API answers them: 404, 409 or 422."""
    try:
        yield
    except BookingNotFound as missing:
        raise not_found(str(missing)) from None
    except BookingClosed as closed:
        raise ApiError(409, "conflict", str(closed)) from None
    except InvalidInput as refused:
        raise invalid([FieldError(name=p.field, message=p.message) for p in refused.problems]) from None
    except SlotConflict as conflict:
        slots = conflicting_slots(ctx.engine, conflict.conflicting_ids)
        raise _conflict(slots, conflict, caller_id, zone) from None


def _conflict(rows: list[Broadcast], conflict: SlotConflict, caller_id: int, zone: tzinfo | None) -> ApiError:
    """409 naming the slots in the way: times always, id and title only of the caller's own bookings."""
    if not rows:
        return ApiError(409, "conflict", "the slot overlaps another slot on this stream (lead included)")
    labels = [f"your booking #{r.id}" if r.organiser_id == caller_id else "a busy slot" for r in rows]
    named = ", ".join(
        (f"{label} {r.title!r} " if r.organiser_id == caller_id and r.title else f"{label} ")
        + show_span(r.slot_starts_at, r.ends_at)
        for label, r in zip(labels, rows, strict=True)
    )
    why = None
    if conflict.starts_at is not None and conflict.lead is not None:
        in_the_way = [
            InTheWay(label, r.slot_starts_at, r.ends_at) for label, r in zip(labels, rows, strict=True)
        ]
        why = explain_lead(conflict.starts_at, conflict.lead, in_the_way)
    return ApiError(
        409,
        "conflict",
        f"the slot overlaps {named} on stream {rows[0].stream_id} (lead included)"
        + (f": {why}" if why else ""),
        conflicts=[busy_slot(r, caller_id, zone) for r in rows],
    )


def _answer(ctx: ApiContext, organiser_id: int, booking_id: int, zone: tzinfo | None) -> BookingOut:
    """The booking as it is now (re-planned), with its actions."""
    with reading(ctx.engine) as session:
        row = own_booking(session, organiser_id, booking_id)
        actions = actions_of(session, [booking_id])[booking_id]
        signal = signals_of(session, [row])[row.id]
        audience = viewer_figures(session, [row.id]).get(row.id)
    return booking_out(row, actions, zone, ctx.clock.now(), signal, audience)

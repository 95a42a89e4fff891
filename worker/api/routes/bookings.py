"""/v1/bookings: an organiser's own bookings: create, list, read, move or rename, cancel.

Someone else's booking and an ops broadcast both answer 404: the API does not say whether a row it
will not show exists. Every change is followed by a re-plan, so the reply already carries the
booking's actions as the ledger now has them.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.api.errors import ApiError, invalid, invalid_field, not_found
from worker.api.routing import Call, Endpoint, PathId, Reply
from worker.api.schemas import (
    BookingCreate,
    BookingList,
    BookingOut,
    BookingPatch,
    BookingsQuery,
    DisplayQuery,
    FieldError,
)
from worker.api.times import zone_or_error
from worker.api.views import actions_of, booking_out, busy_slot
from worker.service.bookings import (
    BookingClosed,
    BookingInput,
    BookingNotFound,
    Problem,
    booking_problems,
    bookings_of,
    cancel_booking,
    change_booking,
    create_booking,
    ensure_open,
    own_booking,
    replan_now,
)
from worker.store.db import transaction
from worker.store.models import Broadcast
from worker.store.schedules import known_stream_ids
from worker.store.slots import SlotConflict, show_span

BOOKING_ID = (PathId("booking_id", "the booking's id"),)


def create(call: Call) -> Reply:
    body = call.body_as(BookingCreate)
    zone = _zone(call)
    now = call.ctx.clock.now()
    lead = body.lead_seconds if body.lead_seconds is not None else call.ctx.settings.default_lead_seconds
    wanted = BookingInput(body.stream_id, body.start, body.end, lead, body.title)
    with transaction(call.ctx.engine) as session:
        _refuse(booking_problems(wanted, now=now, known_streams=known_stream_ids(session)))
        try:
            booking_id = create_booking(session, call.who.organiser_id, wanted, now=now).id
        except SlotConflict as conflict:
            raise _conflict(session, conflict, call.who.organiser_id, zone) from None
    return Reply(201, _replanned(call, booking_id, zone))


def list_mine(call: Call) -> Reply:
    query = call.query_as(BookingsQuery)
    zone = _zone(call)
    now = call.ctx.clock.now()
    with transaction(call.ctx.engine, immediate=False) as session:
        rows = bookings_of(session, call.who.organiser_id, now=now, include_past=query.all)
        actions = actions_of(session, [r.id for r in rows])
    return Reply(200, BookingList(bookings=[booking_out(r, actions[r.id], zone, now) for r in rows]))


def read(call: Call) -> Reply:
    zone = _zone(call)
    with transaction(call.ctx.engine, immediate=False) as session:
        row = _own(session, call)
        actions = actions_of(session, [row.id])[row.id]
    return Reply(200, booking_out(row, actions, zone, call.ctx.clock.now()))


def change(call: Call) -> Reply:
    body = call.body_as(BookingPatch)
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
    zone = _zone(call)
    now = call.ctx.clock.now()
    with transaction(call.ctx.engine) as session:
        row = _own(session, call)
        _open(row, now)
        wanted = BookingInput(
            row.stream_id,
            body.start or row.starts_at,
            body.end or row.ends_at,
            row.lead_seconds,
            body.title if "title" in given else row.title,
        )
        moved_start = wanted.starts_at != row.starts_at
        _refuse(booking_problems(wanted, now=now, known_streams={row.stream_id}, start_changed=moved_start))
        try:
            change_booking(
                session, row, starts_at=wanted.starts_at, ends_at=wanted.ends_at, title=wanted.title, now=now
            )
        except SlotConflict as conflict:
            raise _conflict(session, conflict, call.who.organiser_id, zone) from None
    return Reply(200, _replanned(call, row.id, zone))


def cancel(call: Call) -> Reply:
    zone = _zone(call)
    now = call.ctx.clock.now()
    with transaction(call.ctx.engine) as session:
        row = _own(session, call)
        try:
            cancel_booking(session, row, now=now)
        except BookingClosed as closed:
            raise ApiError(409, "conflict", str(closed)) from None
    return Reply(200, _replanned(call, row.id, zone))


def _zone(call: Call) -> tzinfo | None:
    query = call.query
    tz = query.tz if isinstance(query, DisplayQuery) else None
    return zone_or_error(tz) if tz else None


def _own(session: Session, call: Call) -> Broadcast:
    try:
        return own_booking(session, call.who.organiser_id, call.ids["booking_id"])
    except BookingNotFound as missing:
        raise not_found(str(missing)) from None


def _open(row: Broadcast, now: datetime) -> None:
    try:
        ensure_open(row, now)
    except BookingClosed as closed:
        raise ApiError(409, "conflict", str(closed)) from None


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise invalid([FieldError(name=p.field, message=p.message) for p in problems])


def _conflict(session: Session, conflict: SlotConflict, caller_id: int, zone: tzinfo | None) -> ApiError:
    """409 naming the slots in the way: times always, id and title only of the caller's own bookings."""
    rows = list(
        session.scalars(
            select(Broadcast)
            .where(Broadcast.id.in_(conflict.conflicting_ids))
            .order_by(Broadcast.slot_starts_at)
        )
    )
    if not rows:
        return ApiError(409, "conflict", "the slot overlaps another slot on this stream (lead included)")
    named = ", ".join(
        (
            f"your booking #{r.id}{f' {r.title!r}' if r.title else ''} "
            if r.organiser_id == caller_id
            else "a busy slot "
        )
        + show_span(r.slot_starts_at, r.ends_at)
        for r in rows
    )
    return ApiError(
        409,
        "conflict",
        f"the slot overlaps {named} on stream {rows[0].stream_id} (lead included)",
        conflicts=[busy_slot(r, caller_id, zone) for r in rows],
    )


def _replanned(call: Call, booking_id: int, zone: tzinfo | None) -> BookingOut:
    replan_now(call.ctx.settings, call.ctx.engine, call.ctx.clock)
    with transaction(call.ctx.engine, immediate=False) as session:
        row = own_booking(session, call.who.organiser_id, booking_id)
        actions = actions_of(session, [booking_id])[booking_id]
    return booking_out(row, actions, zone, call.ctx.clock.now())


_NOT_YOURS = {404: "no booking of yours has this id (someone else's and ops broadcasts included)"}
_CLOSED = {409: "the booking is cancelled or has ended"}


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/bookings",
        operation_id="createBooking",
        summary="Book [start - lead, end) on a stream, unless it overlaps another slot",
        handler=create,
        ok_status=201,
        ok_model=BookingOut,
        ok_description="the new booking, with its planned actions",
        tag="bookings",
        query=DisplayQuery,
        body=BookingCreate,
        other_errors={409: "the slot overlaps another; the error names it"},
    ),
    Endpoint(
        method="GET",
        path="/v1/bookings",
        operation_id="listBookings",
        summary="Your bookings: upcoming and running, or all of them with ?all=true",
        handler=list_mine,
        ok_status=200,
        ok_model=BookingList,
        ok_description="your bookings, earliest first",
        tag="bookings",
        query=BookingsQuery,
    ),
    Endpoint(
        method="GET",
        path="/v1/bookings/{booking_id}",
        operation_id="getBooking",
        summary="One of your bookings, with its planned actions",
        handler=read,
        ok_status=200,
        ok_model=BookingOut,
        ok_description="the booking",
        tag="bookings",
        query=DisplayQuery,
        path_ids=BOOKING_ID,
        other_errors=_NOT_YOURS,
    ),
    Endpoint(
        method="PATCH",
        path="/v1/bookings/{booking_id}",
        operation_id="changeBooking",
        summary="Move (start and/or end) or rename one of your bookings; the plan follows at once",
        handler=change,
        ok_status=200,
        ok_model=BookingOut,
        ok_description="the booking as it is now, with its re-planned actions",
        tag="bookings",
        query=DisplayQuery,
        body=BookingPatch,
        path_ids=BOOKING_ID,
        other_errors={
            **_NOT_YOURS,
            409: "the new slot overlaps another, or the booking is cancelled or ended",
        },
    ),
    Endpoint(
        method="DELETE",
        path="/v1/bookings/{booking_id}",
        operation_id="cancelBooking",
        summary="Cancel one of your bookings: its slot is free and its pending actions are cancelled",
        handler=cancel,
        ok_status=200,
        ok_model=BookingOut,
        ok_description="the cancelled booking (cancelling twice changes nothing)",
        tag="bookings",
        query=DisplayQuery,
        path_ids=BOOKING_ID,
        other_errors={**_NOT_YOURS, **_CLOSED},
    ),
]

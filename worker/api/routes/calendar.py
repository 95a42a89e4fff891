"""The organiser's own calendar feed: GET /v1/calendar.ics with their token, or GET
/v1/calendar/<feed secret>.ics for calendar apps, which cannot send an Authorization header.

An unknown or revoked feed secret answers 404, as an address that does not exist: nothing says
whether a feed was ever there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from sqlalchemy.orm import Session

from worker.api.deps import Ctx, Reader, Who
from worker.api.errors import not_found
from worker.api.responses import errors
from worker.clock import Clock
from worker.service.booking_views import organiser_of
from worker.service.calendar_feed import organiser_calendar

router = APIRouter(tags=["calendar"])


class CalendarResponse(Response):
    media_type = "text/calendar"


_FEED: dict[int | str, dict[str, Any]] = {
    200: {"description": "iCalendar (RFC 5545)", "content": {"text/calendar": {"schema": {"type": "string"}}}}
}


@router.get(
    "/v1/calendar.ics",
    operation_id="myCalendar",
    summary="Your calendar: your bookings in full, every other slot on the streams as plain busy time",
    response_class=CalendarResponse,
    responses={**_FEED, **errors(401)},
)
def my_calendar(who: Who, ctx: Ctx, session: Reader) -> Response:
    return _calendar(session, who.organiser_id, who.name, ctx.clock)


@router.get(
    "/v1/calendar/{feed}.ics",
    operation_id="calendarFeed",
    summary="The same calendar at the secret address `onair organiser add` prints, for calendar apps",
    response_class=CalendarResponse,
    responses={**_FEED, **errors(404, 422, s404="no calendar feed at this address (unknown or revoked)")},
)
def calendar_feed(
    feed: Annotated[str, Path(description="the organiser's feed secret")], ctx: Ctx, session: Reader
) -> Response:
    organiser = organiser_of(session, feed)
    if organiser is None:
        raise not_found("no calendar feed at this address: ask ops for a new one")
    return _calendar(session, organiser.id, organiser.name, ctx.clock)


def _calendar(session: Session, organiser_id: int, name: str, clock: Clock) -> Response:
    body = organiser_calendar(session, organiser_id, name, now=clock.now())
    return CalendarResponse(body, headers={"Content-Disposition": 'inline; filename="onair.ics"'})

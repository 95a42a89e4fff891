"""GET /v1/plan: the actions the scheduler will carry out, on every stream.

Every organiser sees every stream's plan (free/busy is public to them too), but the planner's reasons
name bookings and organisers, so an action for anything other than the caller's own booking carries a
neutral reason instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from worker.api.deps import Ctx, Reader, Who
from worker.api.errors import invalid_field
from worker.api.responses import errors
from worker.api.schemas import PlanOut, PlanQuery
from worker.api.times import iso_z, zone_or_error
from worker.api.views import action_out
from worker.service import booking_views

router = APIRouter(tags=["plan"])


@router.get(
    "/v1/plan",
    operation_id="readPlan",
    summary="Pending and running actions due within `hours`, on every stream or one",
    response_description="the plan, earliest first",
    responses=errors(401, 422),
)
def read_plan(query: Annotated[PlanQuery, Query()], who: Who, ctx: Ctx, session: Reader) -> PlanOut:
    zone = zone_or_error(query.tz) if query.tz else None
    now = ctx.clock.now()
    until = now + timedelta(hours=query.hours)
    if query.stream_id is not None and not booking_views.is_known_stream(session, query.stream_id):
        raise invalid_field("stream_id", f"unknown stream {query.stream_id!r}: GET /v1/streams lists them")
    actions = booking_views.plan(session, until, query.stream_id)
    owners = booking_views.owners_of(session, actions)
    return PlanOut(
        now=iso_z(now),
        until=iso_z(until),
        actions=[action_out(a, who.organiser_id, owners, zone) for a in actions],
    )

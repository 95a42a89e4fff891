"""GET /v1/plan: the actions the scheduler will carry out, on every stream.

Every organiser sees every stream's plan (free/busy is public to them too), but the planner's reasons
name bookings and organisers, so an action for anything other than the caller's own booking carries a
neutral reason instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from worker.api.deps import Ctx, Reader, Who
from worker.api.errors import invalid_field
from worker.api.responses import errors
from worker.api.schemas import PlanOut, PlanQuery
from worker.api.times import iso_z, zone_or_error
from worker.api.views import action_out, owners_of
from worker.domain.types import ActionState
from worker.store.models import Action, Stream

UNDER_WAY = (ActionState.PENDING.value, ActionState.CLAIMED.value)


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
    wanted = (
        select(Action)
        .where(Action.state.in_(UNDER_WAY), Action.due_at <= until)
        .order_by(Action.due_at, Action.sequence, Action.id)
    )
    if query.stream_id is not None:
        if session.get(Stream, query.stream_id) is None:
            raise invalid_field(
                "stream_id", f"unknown stream {query.stream_id!r}: GET /v1/streams lists them"
            )
        wanted = wanted.where(Action.stream_id == query.stream_id)
    actions = list(session.scalars(wanted))
    owners = owners_of(session, actions)
    return PlanOut(
        now=iso_z(now),
        until=iso_z(until),
        actions=[action_out(a, who.organiser_id, owners, zone) for a in actions],
    )

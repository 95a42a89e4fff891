"""GET /v1/plan: the actions the scheduler will carry out, on every stream.

Every organiser sees every stream's plan (free/busy is public to them too), but the planner's reasons
name bookings and organisers, so an action for anything other than the caller's own booking carries a
neutral reason instead.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from worker.api.errors import invalid_field
from worker.api.routing import Call, Endpoint, Reply
from worker.api.schemas import PlanOut, PlanQuery
from worker.api.times import iso_z, zone_or_error
from worker.api.views import action_out, owners_of
from worker.domain.types import ActionState
from worker.store.db import transaction
from worker.store.models import Action, Stream

UNDER_WAY = (ActionState.PENDING.value, ActionState.CLAIMED.value)


def read_plan(call: Call) -> Reply:
    query = call.query_as(PlanQuery)
    zone = zone_or_error(query.tz) if query.tz else None
    now = call.ctx.clock.now()
    until = now + timedelta(hours=query.hours)
    wanted = (
        select(Action)
        .where(Action.state.in_(UNDER_WAY), Action.due_at <= until)
        .order_by(Action.due_at, Action.sequence, Action.id)
    )
    with transaction(call.ctx.engine, immediate=False) as session:
        if query.stream_id is not None:
            if session.get(Stream, query.stream_id) is None:
                raise invalid_field(
                    "stream_id", f"unknown stream {query.stream_id!r}: GET /v1/streams lists them"
                )
            wanted = wanted.where(Action.stream_id == query.stream_id)
        actions = list(session.scalars(wanted))
        owners = owners_of(session, actions)
    return Reply(
        200,
        PlanOut(
            now=iso_z(now),
            until=iso_z(until),
            actions=[action_out(a, call.who.organiser_id, owners, zone) for a in actions],
        ),
    )


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/plan",
        operation_id="readPlan",
        summary="Pending and running actions due within `hours`, on every stream or one",
        handler=read_plan,
        ok_status=200,
        ok_model=PlanOut,
        ok_description="the plan, earliest first",
        tag="plan",
        query=PlanQuery,
    )
]

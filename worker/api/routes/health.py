"""GET /health: is the API up and can it reach its database? No token needed (for load balancers)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from worker.api.errors import ApiError
from worker.api.routing import Call, Endpoint, Reply
from worker.api.schemas import Health


def health(call: Call) -> Reply:
    try:
        with call.ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise ApiError(503, "unavailable", f"database unreachable ({type(exc).__name__})") from None
    return Reply(200, Health(status="ok", database=call.ctx.engine.dialect.name))


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/health",
        operation_id="health",
        summary="Liveness: the API answers and reaches its database",
        handler=health,
        ok_status=200,
        ok_model=Health,
        ok_description="up",
        tag="meta",
        other_errors={503: "the database cannot be reached"},
        auth=False,
    )
]

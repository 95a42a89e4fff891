"""GET /health: is the API up and can it reach its database? No token needed (for load balancers)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from worker.api.deps import Ctx
from worker.api.errors import ApiError
from worker.api.responses import errors
from worker.api.schemas import Health
from worker.service.database import ping

router = APIRouter(tags=["meta"])


@router.get(
    "/health",
    operation_id="health",
    summary="Liveness: the API answers and reaches its database",
    response_description="up",
    responses=errors(503),
)
def health(ctx: Ctx) -> Health:
    try:
        ping(ctx.engine)
    except SQLAlchemyError as exc:
        raise ApiError(503, "unavailable", f"database unreachable ({type(exc).__name__})") from None
    return Health(status="ok", database=ctx.engine.dialect.name)

"""Every error the API answers has one shape: {"error": {"code", "message", "fields", "conflicts"?}}.

Handlers raise ApiError; the exception handlers here turn it (and Starlette's own 404/405, and any
crash) into that body, so a client parses one format whatever went wrong. A crash is logged with its
traceback and answered with a fixed message: internals never reach the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from worker.api.schemas import BusySlot, ErrorDetail, ErrorOut, FieldError

log = logging.getLogger(__name__)

BEARER_CHALLENGE = 'Bearer realm="onair"'


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: Sequence[FieldError] = (),
        conflicts: Sequence[BusySlot] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields, self.conflicts, self.headers = list(fields), conflicts, headers


def unauthorized(message: str, *, token_given: bool) -> ApiError:
    challenge = f'{BEARER_CHALLENGE}, error="invalid_token"' if token_given else BEARER_CHALLENGE
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def invalid(fields: Sequence[FieldError]) -> ApiError:
    message = "; ".join(f"{f.name}: {f.message}" for f in fields)
    return ApiError(422, "invalid_input", message, fields=fields)


def invalid_field(name: str, message: str) -> ApiError:
    return invalid([FieldError(name=name, message=message)])


def fields_of(error: ValidationError, *, prefix: str = "") -> list[FieldError]:
    """pydantic's errors as one FieldError each, named by the field (the alias as the client spells it)."""
    found = []
    for item in error.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"]) or prefix or "body"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] == "missing":
            message = "is required"
        found.append(FieldError(name=name, message=message))
    return found


def error_response(error: ApiError) -> JSONResponse:
    body = ErrorOut(
        error=ErrorDetail.model_validate(
            {
                "code": error.code,
                "message": error.message,
                "fields": error.fields,
                "conflicts": error.conflicts,
            }
        )
    )
    data = body.model_dump(mode="json")
    if error.conflicts is None:
        del data["error"]["conflicts"]
    return JSONResponse(data, error.status, headers=error.headers)


async def on_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
        error.headers = dict(exc.headers or {})
        return error_response(error)
    if exc.status_code == 404:
        return error_response(not_found(f"no such endpoint: {request.url.path} (see /openapi.json)"))
    return error_response(ApiError(exc.status_code, "invalid_input", str(exc.detail)))


async def on_crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ApiError(500, "internal", "internal error; it was logged"))

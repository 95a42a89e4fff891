"""Every error the API answers has one shape: {"error": {"code", "message", "fields", "conflicts"?}}.

Handlers raise ApiError; the exception handlers here turn it (and FastAPI's own validation errors,
Starlette's 404/405, and any crash) into that body, so a client parses one format whatever went
wrong. A crash is logged with its traceback and answered with a fixed message: internals never reach
the caller.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from worker.api.headers import security_headers
from worker.api.redact import redact_path
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


def fields_of(errors: Sequence[Any]) -> list[FieldError]:
    """pydantic's (or FastAPI's) errors as one FieldError each, named by the field as the client spells
    it: `start` for a body field, `tz` for a query parameter, `body` for the body as a whole."""
    found = []
    for item in errors:
        loc = [str(part) for part in item["loc"]]
        if loc and loc[0] in ("body", "query", "path", "header"):
            where, loc = loc[0], loc[1:]
        else:
            where = "body"
        kind = item["type"]
        name = ".".join(loc) if loc and kind != "json_invalid" else where
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            message = "is not a known field"
        elif kind == "missing":
            message = "is empty: send a JSON object" if name == "body" else "is required"
        elif kind == "json_invalid":
            message = f"is not valid JSON ({item.get('ctx', {}).get('error', 'decode error')})"
        elif name == "body" and kind in ("model_attributes_type", "dict_type", "model_type"):
            message = f"must be a JSON object, not {type(item.get('input')).__name__}"
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


async def on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(invalid(fields_of(exc.errors())))


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
        error.headers = {"Allow": ", ".join(_allowed_methods(request))}
        return error_response(error)
    if exc.status_code == 404:
        return error_response(not_found(f"no such endpoint: {request.url.path} (see /openapi.json)"))
    if exc.status_code == 400:
        # FastAPI's answer to a body it could not decode (e.g. not UTF-8).
        return error_response(invalid_field("body", "is not valid JSON (it could not be decoded)"))
    return error_response(ApiError(exc.status_code, "invalid_input", str(exc.detail)))


def _allowed_methods(request: Request) -> list[str]:
    """Every method served on this path, from the OpenAPI document (which lists every route): FastAPI
    routes one method each, so the 405 it raises names only the first route's."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)), request.url.path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


async def on_crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, redact_path(request.url.path), exc_info=exc)
    # Starlette answers a crash outside every middleware, so the security headers are added here.
    headers = security_headers(request.url.path)
    return error_response(ApiError(500, "internal", "internal error; it was logged", headers=headers))

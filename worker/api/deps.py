"""FastAPI dependencies every endpoint shares: the context (database, settings, clock), the caller
(the organiser behind the bearer token), a read-only database session, and the checks on the raw
request that pydantic cannot make (a query parameter given twice, the body's media type and keys)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import Message
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from worker.api.auth import Caller, caller_of
from worker.api.context import ApiContext
from worker.api.errors import ApiError, invalid, invalid_field
from worker.api.schemas import FieldError
from worker.domain.text import control_character_problem
from worker.service.database import reading

BODY_MAX_BYTES = 64 * 1024

# Declares the bearer scheme in the OpenAPI document; the token itself is read by `current_caller`,
# which says which of "missing" or "not accepted" applies.
_bearer = HTTPBearer(auto_error=False, scheme_name="bearerAuth")


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


def current_caller(
    request: Request, ctx: Ctx, _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    with reading(ctx.engine) as session:
        return caller_of(session, request.headers.get("authorization"))


Who = Annotated[Caller, Depends(current_caller)]


def read_session(ctx: Ctx) -> Iterator[Session]:
    """One read-only transaction for the request, closed before the reply is sent."""
    with reading(ctx.engine) as session:
        yield session


Reader = Annotated[Session, Depends(read_session, scope="function")]


def plain_query(request: Request) -> None:
    """Every query parameter at most once (`?tz=A&tz=B` is refused rather than one silently winning)
    and without control characters (a NUL cannot even reach PostgreSQL)."""
    seen: set[str] = set()
    wrong: list[FieldError] = []
    for key, value in request.query_params.multi_items():
        if key in seen:
            wrong.append(FieldError(name=key, message="is given more than once"))
        problem = control_character_problem(key, "parameter name") or control_character_problem(value, key)
        if problem:
            wrong.append(FieldError(name=key, message=problem))
        seen.add(key)
    if wrong:
        raise invalid(wrong)


async def json_object_body(request: Request, _caller: Who) -> None:
    """The body is JSON (415 for another media type), at most BODY_MAX_BYTES, a single object, and
    names no key twice. Runs after authentication and before pydantic validates the body's fields."""
    raw = await request.body()
    if len(raw) > BODY_MAX_BYTES:
        raise invalid_field("body", f"is {len(raw)} bytes; at most {BODY_MAX_BYTES}")
    if not raw.strip():
        raise invalid_field("body", "is empty: send a JSON object")
    media = request.headers.get("content-type")
    if media is not None and not _is_json(media):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the body is {media.split(';')[0].strip() or 'untyped'}: send it as application/json",
        )
    try:
        data = json.loads(raw, object_pairs_hook=_refuse_repeated_keys)
    except _RepeatedKey as repeated:
        raise invalid_field(repeated.key, "is given more than once in the body") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_field("body", f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise invalid_field("body", f"must be a JSON object, not {type(data).__name__}")


JsonBody = Depends(json_object_body)


def _is_json(media: str) -> bool:
    message = Message()
    message["content-type"] = media
    subtype = message.get_content_subtype()
    is_json = subtype == "json" or subtype.endswith("+json")
    return message.get_content_maintype() == "application" and is_json


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found

"""Endpoints declared once, as data: the same declaration builds the Starlette route (auth, query, body
and path parsing, then the handler in a worker thread) and the endpoint's OpenAPI operation.

Handlers are plain synchronous functions of a Call: they touch the database, which blocks, so they
run in Starlette's thread pool and the event loop stays free.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.api.auth import Caller, caller_of
from worker.api.context import ApiContext
from worker.api.errors import fields_of, invalid, invalid_field
from worker.api.schemas import FieldError
from worker.store.db import transaction

BODY_MAX_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Reply:
    status: int
    body: BaseModel


@dataclass(frozen=True)
class Call:
    ctx: ApiContext
    caller: Caller | None
    query: BaseModel | None
    body: BaseModel | None
    ids: dict[str, int]

    @property
    def who(self) -> Caller:
        assert self.caller is not None, "an endpoint without auth asked for its caller"
        return self.caller

    def query_as(self, model: type[M]) -> M:
        assert isinstance(self.query, model)
        return self.query

    def body_as(self, model: type[M]) -> M:
        assert isinstance(self.body, model)
        return self.body


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class PathId:
    """An integer path parameter, e.g. {booking_id}."""

    name: str
    description: str


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler
    ok_status: int
    ok_model: type[BaseModel]
    ok_description: str
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    path_ids: tuple[PathId, ...] = ()
    other_errors: dict[int, str] = field(default_factory=dict)
    auth: bool = True

    def error_statuses(self) -> dict[int, str]:
        """Every error status this endpoint can answer, with what it means."""
        found = dict(self.other_errors)
        if self.auth:
            found[401] = "missing, wrong or revoked token"
        if self.query is not None or self.body is not None or self.path_ids:
            found[422] = "invalid input; `fields` names each field at fault"
        return dict(sorted(found.items()))

    def responder(self, ctx: ApiContext) -> Callable[[Request], Awaitable[Response]]:
        async def respond(request: Request) -> Response:
            raw = await request.body() if self.body is not None else b""
            call = await run_in_threadpool(self._prepare, ctx, request, raw)
            reply = await run_in_threadpool(self.handler, call)
            return JSONResponse(reply.body.model_dump(mode="json", by_alias=True), reply.status)

        return respond

    def _prepare(self, ctx: ApiContext, request: Request, raw: bytes) -> Call:
        caller = None
        if self.auth:
            with transaction(ctx.engine, immediate=False) as session:
                caller = caller_of(session, request.headers.get("authorization"))
        ids = {p.name: _path_id(p.name, request.path_params.get(p.name, "")) for p in self.path_ids}
        query = _parse_query(self.query, request) if self.query is not None else None
        body = _parse_body(self.body, raw) if self.body is not None else None
        return Call(ctx, caller, query, body, ids)


def _path_id(name: str, text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise invalid_field(name, f"{text!r} is not a positive integer id")
    return int(text)


def _parse_query(model: type[BaseModel], request: Request) -> BaseModel:
    values: dict[str, str] = {}
    repeated: list[FieldError] = []
    for key, value in request.query_params.multi_items():
        if key in values:
            repeated.append(FieldError(name=key, message="is given more than once"))
        values[key] = value
    if repeated:
        raise invalid(repeated)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid(fields_of(exc)) from None


def _parse_body(model: type[BaseModel], raw: bytes) -> BaseModel:
    if len(raw) > BODY_MAX_BYTES:
        raise invalid_field("body", f"is {len(raw)} bytes; at most {BODY_MAX_BYTES}")
    if not raw.strip():
        raise invalid_field("body", "is empty: send a JSON object")
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_field("body", f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise invalid_field("body", f"must be a JSON object, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(fields_of(exc)) from None


def routes(endpoints: Sequence[Endpoint], ctx: ApiContext) -> list[Route]:
    """One Starlette route per path, dispatching on the method, so a 405 names every allowed method."""
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint.responder(ctx)
    found = []
    for path, handlers in by_path.items():

        async def dispatch(
            request: Request, handlers: dict[str, Callable[[Request], Awaitable[Response]]] = handlers
        ) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            return await handlers[method](request)

        found.append(Route(path, dispatch, methods=list(handlers)))
    return found

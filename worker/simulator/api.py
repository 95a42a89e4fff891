"""The /v1 side: routing, HTTP Basic auth, fault injection and the call log around each operation.

A raw ASGI app rather than starlette routes, because a "drop" fault must close the connection
without any HTTP response, which needs the server's transport, and because every call, including
unknown paths and faulted ones, is logged with the instant it arrived.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

from worker.clock import Clock
from worker.simulator import operations as ops
from worker.simulator.faults import FaultRule
from worker.simulator.model import iso_micro
from worker.simulator.ratelimit import SlidingWindow, retry_after_header
from worker.simulator.state import SimState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_BASE = r"^/v1/live/streams"
_SID = r"/(?P<sid>[^/]+)"
ROUTES: list[tuple[re.Pattern[str], dict[str, tuple[str, ops.Operation]]]] = [
    (re.compile(_BASE + r"/?$"), {"POST": ("create", ops.create), "GET": ("list", ops.list_streams)}),
    (
        re.compile(_BASE + _SID + r"/?$"),
        {"GET": ("get", ops.get), "PATCH": ("update", ops.update), "DELETE": ("delete", ops.delete)},
    ),
    (re.compile(_BASE + _SID + r"/viewer-count/?$"), {"GET": ("viewers", ops.viewers)}),
    (re.compile(_BASE + _SID + r"/live-enable/?$"), {"PUT": ("enable", ops.enable)}),
    (re.compile(_BASE + _SID + r"/live-disable/?$"), {"PUT": ("disable", ops.disable)}),
    (re.compile(_BASE + _SID + r"/finish/?$"), {"PUT": ("finish", ops.finish)}),
    (
        re.compile(_BASE + _SID + r"/playback-ids/?$"),
        {
            "POST": ("playback_create", ops.playback_create),
            "DELETE": ("playback_delete", ops.playback_delete),
        },
    ),
    (
        re.compile(_BASE + _SID + r"/playback-ids/(?P<sub>[^/]+)/?$"),
        {"GET": ("playback_get", ops.playback_get)},
    ),
    (re.compile(_BASE + _SID + r"/simulcast/?$"), {"POST": ("simulcast_create", ops.simulcast_create)}),
    (
        re.compile(_BASE + _SID + r"/simulcast/(?P<sub>[^/]+)/?$"),
        {
            "GET": ("simulcast_get", ops.simulcast_get),
            "PUT": ("simulcast_update", ops.simulcast_update),
            "DELETE": ("simulcast_delete", ops.simulcast_delete),
        },
    ),
]

GATEWAY_PAGES = {
    "502": (
        "text/html",
        "<html><head><title>502 Bad Gateway</title></head><body><center>"
        "<h1>502 Bad Gateway</h1></center></body></html>\n",
    ),
    "503": (
        "text/html",
        "<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
        "<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>\n",
    ),
    "524": ("text/plain", "error code: 524"),
}


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status, headers, media_type="application/json")


def fault_response(rule: FaultRule) -> Response:
    if rule.kind == "400":
        return json_response(400, ops.error_body(400, "bad request", "The request could not be processed."))
    if rule.kind == "422":
        field = {"field": "streamId", "message": "injected validation failure"}
        return json_response(422, ops.validation_body([field]))
    if rule.kind == "500":
        return json_response(
            500, ops.error_body(500, "internal server error", "Something went wrong on our end.")
        )
    if rule.kind == "429":
        return too_many_requests(rule.retry_after)
    media_type, text = GATEWAY_PAGES[rule.kind]
    return Response(text, int(rule.kind), media_type=media_type)


def too_many_requests(retry_after: str | None) -> Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    body = ops.error_body(429, "too many requests", "Rate limit exceeded. Retry after some time.")
    return json_response(429, body, headers)


class LiveStreamApi:
    """The ASGI app answering FastPix's /v1/live/streams paths."""

    def __init__(self, state: SimState, clock: Clock, access_token_id: str, secret_key: str) -> None:
        self._state = state
        self._clock = clock
        self._expected = f"{access_token_id}:{secret_key}".encode()
        self.limiter = SlidingWindow()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        arrived = self._clock.now()
        method, path = scope["method"], scope["path"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        endpoint, operation, stream_id, sub_id = self._route(method, path)
        raw = await _read_body(receive)
        with self._state.lock:
            generation = self._state.generation
            wait = self.limiter.admit(self._state.rate_limit, time.monotonic())
            rule = self._fault_for(endpoint, stream_id) if wait is None else None
            before = ops.status_of(self._state, stream_id, arrived)
        effect = rule is None or rule.apply_effect
        status, body = 0, dict[str, Any]()
        if wait is not None:
            effect = False
        elif operation is None:
            status, body = _unrouted(method, path)
        elif effect:
            status, body = self._answer(
                scope, operation, ops.Call(arrived, stream_id, sub_id, query, _parse_json(raw))
            )
        if endpoint == "create" and status == 201:
            stream_id = body["data"]["streamId"]  # the log names the stream a create made
        response: Response | None = json_response(status, body)
        if rule is not None and rule.kind == "slow":
            await asyncio.sleep(rule.delay)
        elif rule is not None:
            response = None if rule.kind == "drop" else fault_response(rule)
            status = 0 if response is None else response.status_code
        outcome = "error" if status >= 400 else "ok"
        if rule is not None:
            outcome = f"fault:{rule.kind}"
        if wait is not None:
            response, status, outcome = too_many_requests(retry_after_header(wait)), 429, "rate_limited"
        with self._state.lock:
            after = ops.status_of(self._state, stream_id, self._clock.now()) if effect else before
            if generation == self._state.generation:
                self._state.record_call(
                    {
                        "time": iso_micro(arrived),
                        "method": method,
                        "path": path,
                        "endpoint": endpoint,
                        "stream_id": stream_id,
                        "http_status": status,
                        "outcome": outcome,
                        "status_before": before,
                        "status_after": after,
                    }
                )
        if response is None:
            await _drop(send)
            return
        await response(scope, receive, send)

    def _answer(self, scope: Scope, operation: ops.Operation, call: ops.Call) -> ops.Result:
        if not self._authorised(scope):
            return ops.UNAUTHORIZED[0], ops.error_body(*ops.UNAUTHORIZED)
        with self._state.lock:
            return ops.run(operation, self._state, call)

    def _route(self, method: str, path: str) -> tuple[str, ops.Operation | None, str | None, str | None]:
        for pattern, methods in ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            groups = match.groupdict()
            stream_id, sub_id = groups.get("sid"), groups.get("sub")
            if method not in methods:
                return "unknown", None, stream_id, sub_id
            name, operation = methods[method]
            return name, operation, stream_id, sub_id
        return "unknown", None, None, None

    def _fault_for(self, endpoint: str, stream_id: str | None) -> FaultRule | None:
        for rule in list(self._state.faults):
            if rule.matches(endpoint, stream_id) and rule.fire():
                if rule.spent:
                    self._state.faults.remove(rule)
                self._state.mark_dirty()
                return rule
        return None

    def _authorised(self, scope: Scope) -> bool:
        header = dict(scope.get("headers", [])).get(b"authorization", b"")
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return secrets.compare_digest(given, self._expected)


def _unrouted(method: str, path: str) -> tuple[int, dict[str, Any]]:
    return 404, ops.error_body(404, "not found", f"No route for {method} {path}.")


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _MALFORMED


class _Malformed:
    """A body that is not JSON: validation reports it as the 'body' field."""


_MALFORMED = _Malformed()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _drop(send: Send) -> None:
    """Close the connection without a response: the server's transport, reached via `send`."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("drop faults need uvicorn's h11/httptools protocol (no transport found)")
    transport.abort()
    # Let connection_lost run so the server sees a disconnect rather than a missing response.
    await asyncio.sleep(0)
    await asyncio.sleep(0)

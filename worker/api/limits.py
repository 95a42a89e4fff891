"""A request whose Content-Length is over the body limit is refused before its body is read, with the
usual error body (413): the API never buffers a large upload to find out it is too large. A body
sent without a length is still measured once read (json_object_body, 422)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from worker.api.deps import BODY_MAX_BYTES
from worker.api.errors import error_response, invalid_field


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > BODY_MAX_BYTES:
                error = invalid_field("body", f"is {int(length)} bytes; at most {BODY_MAX_BYTES}")
                error.status = 413
                await error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)

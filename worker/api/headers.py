"""Headers on every reply: `X-Content-Type-Options: nosniff` (a browser never guesses a type the
server did not say), `Cache-Control: no-store` under /v1, whose replies are one organiser's (or an
error about their credentials) and must not sit in a shared or browser cache, and a
Content-Security-Policy without `unsafe-inline` for the pages (docs/web.md)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRIVATE_PREFIX = "/v1/"
# The pages load scripts and styles only from onair itself: no inline script or style, no other origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# Swagger UI's page starts itself with an inline script, so /docs keeps its own rules.
DOCS_PREFIX = "/docs"


def security_headers(path: str) -> dict[str, str]:
    found = {"X-Content-Type-Options": "nosniff"}
    if path.startswith(PRIVATE_PREFIX):
        found["Cache-Control"] = "no-store"
    if not path.startswith(DOCS_PREFIX):
        found["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        found["X-Frame-Options"] = "DENY"
    return found


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)

"""What can go wrong when talking to FastPix, and what the scheduler should do about it.

    FastPixError                 a call to FastPix did not succeed
    ├── TransportError           no usable HTTP answer arrived
    │   ├── CallTimeout          connect/read timeout, or the per-call deadline passed
    │   ├── NetworkError         could not reach the server (DNS, refused, TLS, proxy)
    │   ├── ConnectionDropped    the connection closed in the middle of the exchange
    │   └── BudgetExhausted      not sent: no slot in the FASTPIX_MAX_RPS budget before its deadline
    ├── HttpStatusError          FastPix answered with an error: `status`, `message`, `description`
    │   ├── RateLimited          429; `retry_after` seconds when the server said
    │   ├── ServerError          5xx, including Cloudflare's 524; optional `retry_after`
    │   └── ApiError             any other 4xx: also `code` and `fields` (422: list of FieldError)
    └── UnexpectedResponse       a success status whose body is not what the API documents

    InvalidRequest (ValueError)  refused locally, before any call was made

`classify(exc)` maps any of these to RETRYABLE, PERMANENT or ALREADY_IN_STATE (the 400 FastPix
answers to enabling an enabled stream or disabling a disabled one: the wanted state holds).
Messages never carry credentials or stream keys: stream-key-shaped text is redacted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from worker.clock import ensure_utc

# streamKey / srtSecret / srtPlaybackSecret: 32 hex + "k" + the 32-hex stream id.
_SECRET_SHAPE = re.compile(r"[0-9a-fA-F]{32}k[0-9a-fA-F]{32}")
# Real answers: "stream is already enabled", "stream already disabled"; tolerate wording drift.
_ALREADY_IN_STATE = re.compile(r"\balready\s+(?:been\s+)?(?:enabled|disabled)\b", re.IGNORECASE)

RETRYABLE_CLIENT_STATUSES = frozenset({408})


def redact(text: str) -> str:
    return _SECRET_SHAPE.sub("[redacted]", text)


class FastPixError(Exception):
    """A call to FastPix did not succeed. `method` and `path` name the call (no query, no secrets)."""

    def __init__(self, method: str, path: str, detail: str) -> None:
        self.method = method
        self.path = path
        self.detail = redact(detail)
        super().__init__(self._render())

    def _render(self) -> str:
        return f"FastPix call {self.method} {self.path} failed: {self.detail}"


class TransportError(FastPixError):
    def _render(self) -> str:
        return f"FastPix {self.method} {self.path}: {self.detail}"


class CallTimeout(TransportError):
    pass


class NetworkError(TransportError):
    pass


class ConnectionDropped(TransportError):
    pass


class BudgetExhausted(TransportError):
    """Never sent: the shared request budget had no slot before the call's (or action's) deadline."""


class UnexpectedResponse(FastPixError):
    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        self.status = status
        super().__init__(method, path, detail)

    def _render(self) -> str:
        return f"FastPix {self.status} on {self.method} {self.path}: unexpected response: {self.detail}"


class HttpStatusError(FastPixError):
    """An error answer from FastPix; `message`/`description` are the API's own words when it sent them."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        message: str,
        description: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.message = redact(message)
        self.description = redact(description)
        self.retry_after = retry_after
        super().__init__(method, path, message)

    def _render(self) -> str:
        text = f"FastPix {self.status} on {self.method} {self.path}: {self.message}"
        if self.description and self.description.lower() != self.message.lower():
            text += f" ({self.description})"
        return text


class RateLimited(HttpStatusError):
    def _render(self) -> str:
        text = super()._render()
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:g}s"
        return text


class ServerError(HttpStatusError):
    pass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class ApiError(HttpStatusError):
    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        message: str,
        description: str = "",
        code: int | None = None,
        fields: list[FieldError] | None = None,
    ) -> None:
        self.code = code if code is not None else status
        self.fields = list(fields or [])
        super().__init__(method, path, status, message, description)

    def _render(self) -> str:
        text = super()._render()
        if self.fields:
            text += ": " + "; ".join(f"{f.field}: {redact(f.message)}" for f in self.fields)
        return text


class InvalidRequest(ValueError):
    """The input was refused before calling FastPix; the message says which value and why."""


class Classification(StrEnum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    ALREADY_IN_STATE = "already_in_state"


def classify(exc: BaseException) -> Classification:
    """How the scheduler should treat a failed call. Anything unknown is PERMANENT: retrying a bug
    in our own code does not fix it, and a permanent failure is alerted."""
    if isinstance(exc, TransportError | RateLimited | ServerError):
        return Classification.RETRYABLE
    if isinstance(exc, UnexpectedResponse):
        # A success status whose body we could not read: the check-then-act executor re-reads the
        # stream on retry, so retrying is safe and usually finds the effect already applied.
        return Classification.RETRYABLE
    if isinstance(exc, ApiError):
        if exc.status in RETRYABLE_CLIENT_STATUSES:
            return Classification.RETRYABLE
        if exc.status == 400 and (
            _ALREADY_IN_STATE.search(exc.message) or _ALREADY_IN_STATE.search(exc.description)
        ):
            return Classification.ALREADY_IN_STATE
    return Classification.PERMANENT


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait before the next attempt, if it said so."""
    if isinstance(exc, HttpStatusError):
        return exc.retry_after
    return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as delay-seconds or an HTTP date (relative to `now`); None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are always GMT; a zoneless one is not something we can trust
    return max(0.0, (when - ensure_utc(now)).total_seconds())


def error_for_status(
    method: str,
    path: str,
    status: int,
    body: object,
    retry_after_header: str | None,
    now: datetime,
) -> HttpStatusError:
    """Build the exception for an error answer from its status and (possibly absent) JSON envelope."""
    envelope = body.get("error") if isinstance(body, dict) else None
    error = envelope if isinstance(envelope, dict) else {}
    message = _text(error.get("message")) or _default_message(status)
    description = _text(error.get("description"))
    wait = parse_retry_after(retry_after_header, now)
    if status == 429:
        return RateLimited(method, path, status, message, description, retry_after=wait)
    if status >= 500:
        return ServerError(method, path, status, message, description, retry_after=wait)
    code = error.get("code")
    return ApiError(
        method,
        path,
        status,
        message,
        description,
        code=code if isinstance(code, int) else None,
        fields=_field_errors(error.get("fields")),
    )


def _field_errors(raw: object) -> list[FieldError]:
    if not isinstance(raw, list):
        return []
    return [
        FieldError(field=_text(item.get("field")), message=_text(item.get("message")))
        for item in raw
        if isinstance(item, dict)
    ]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _default_message(status: int) -> str:
    return {
        400: "bad request",
        401: "unauthorized (check FASTPIX_ACCESS_TOKEN_ID and FASTPIX_SECRET_KEY)",
        403: "forbidden",
        404: "not found",
        408: "request timeout",
        409: "conflict",
        422: "validation failed",
        429: "too many requests",
        524: "origin timed out",
    }.get(status, "server error" if status >= 500 else "request refused")

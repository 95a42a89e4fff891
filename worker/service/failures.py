"""The cause of a failed call, built from the FastPix error that ended the action's attempts."""

from __future__ import annotations

from worker.domain.causes import FailureCause
from worker.fastpix.errors import (
    CallTimeout,
    ConnectionDropped,
    FastPixError,
    HttpStatusError,
    NetworkError,
    UnexpectedResponse,
)

PERMANENT_RULE = "FastPix refused it: an error like this is not retried"

_NO_ANSWER = {CallTimeout: "timeout", NetworkError: "unreachable", ConnectionDropped: "connection dropped"}


def cause_of(exc: FastPixError, attempts: int, rule: str) -> FailureCause:
    status: int | None = None
    if isinstance(exc, HttpStatusError):
        status, message = exc.status, exc.message
    elif isinstance(exc, UnexpectedResponse):
        status, message = exc.status, f"unexpected response: {exc.detail}"
    else:
        label = next((text for kind, text in _NO_ANSWER.items() if isinstance(exc, kind)), "error")
        message = f"{label}: {exc.detail}"
    return FailureCause(status, message[:300], exc.method, exc.path, attempts, rule)

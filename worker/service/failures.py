"""The cause of a failed action, built from the FastPix error that ended its attempts, and the history
event that keeps it: `gave_up`, with the call, the last status and the attempts in their columns and
the whole cause as JSON in `detail` (the action's `outcome` carries its one-line summary)."""

from __future__ import annotations

from datetime import datetime

from worker.domain.causes import FailureCause
from worker.fastpix.errors import (
    CallTimeout,
    ConnectionDropped,
    FastPixError,
    HttpStatusError,
    NetworkError,
    UnexpectedResponse,
)
from worker.store.events import Event

GAVE_UP = "gave_up"
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


def gave_up_event(actor: str, action_id: int, stream_id: str, cause: FailureCause, now: datetime) -> Event:
    return Event(
        action_id=action_id,
        stream_id=stream_id,
        at=now,
        actor=actor,
        event=GAVE_UP,
        attempt=cause.attempts,
        http_method=cause.method,
        http_path=cause.path,
        http_status=cause.status,
        detail=cause.to_json(),
    )

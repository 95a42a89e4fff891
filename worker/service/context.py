"""What the current thread is working on, so logs and metrics can name the action without every call
site passing it along. Celery's threads pool runs one task per thread, and a ContextVar is per thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ActionScope:
    action_id: int
    stream_id: str
    kind: str
    due_at: datetime
    attempt: int
    # Set by the metrics hook once the attempt's first FastPix call has been timed.
    first_call_seen: bool = field(default=False)


_current: ContextVar[ActionScope | None] = ContextVar("onair_action", default=None)


def current_action() -> ActionScope | None:
    return _current.get()


@contextmanager
def action_scope(
    action_id: int, stream_id: str, kind: str, due_at: datetime, attempt: int
) -> Iterator[ActionScope]:
    scope = ActionScope(action_id, stream_id, kind, due_at, attempt)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)

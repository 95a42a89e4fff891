"""What the current thread is working on, so logs and metrics can name the action without every call
site passing it along. Celery's threads pool runs one task per thread, and a ContextVar is per thread."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime


@dataclass
class ActionScope:
    action_id: int
    stream_id: str
    kind: str
    due_at: datetime
    attempt: int


_current: ContextVar[ActionScope | None] = ContextVar("onair_action", default=None)
# Recent actions' streams, so a line logged about an action after its scope closed (the task's
# summary) still names the stream.
_recent: OrderedDict[int, str] = OrderedDict()
_recent_lock = threading.Lock()
RECENT_LIMIT = 4096


def current_action() -> ActionScope | None:
    return _current.get()


@contextmanager
def action_scope(
    action_id: int, stream_id: str, kind: str, due_at: datetime, attempt: int
) -> Iterator[ActionScope]:
    scope = ActionScope(action_id, stream_id, kind, due_at, attempt)
    with _recent_lock:
        _recent[action_id] = stream_id
        _recent.move_to_end(action_id)
        if len(_recent) > RECENT_LIMIT:
            _recent.popitem(last=False)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def stream_of(action_id: int) -> str | None:
    """The stream of an action this process worked on recently, if any."""
    with _recent_lock:
        return _recent.get(action_id)

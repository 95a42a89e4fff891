"""Collects the FastPix calls made while executing one action, so each lands in its history, and
times every call for the metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from worker.fastpix.client import CallRecord
from worker.service import metrics

_current: ContextVar[list[CallRecord] | None] = ContextVar("onair_calls", default=None)


def record_call(call: CallRecord) -> None:
    """The FastPix client's on_call hook."""
    metrics.observe_call(call)
    calls = _current.get()
    if calls is not None:
        # History records when each call left (the report's lateness), not when it was written down.
        started = datetime.now(UTC) - timedelta(milliseconds=call.latency_ms)
        calls.append(replace(call, started_at=started))


@contextmanager
def collecting_calls(into: list[CallRecord] | None = None) -> Iterator[list[CallRecord]]:
    """Calls made in this block are appended to `into` (a new list when None), which it yields."""
    calls: list[CallRecord] = [] if into is None else into
    token = _current.set(calls)
    try:
        yield calls
    finally:
        _current.reset(token)

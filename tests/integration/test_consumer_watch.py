"""The consumers' watch, on SQLite and PostgreSQL, with a real webhook endpoint: when no worker consumes
the actions queue, `no_consumer` once per outage; when one consumes again, `consumer_recovered` once,
however many watchdogs see it; a later outage is told again, and its recovery too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.cli_support import Onair, migrated_on_backend
from tests.integration.store_support import BACKENDS
from tests.integration.test_health_watch import runtime
from tests.integration.webhook_receiver import Receiver
from worker.clock import FixedClock
from worker.service import alerts
from worker.service.watchdog import Watchdog

NOW = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


def test_no_consumer_then_consumer_recovered_once_each_per_outage(
    onair: Onair, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    clock = FixedClock(NOW)
    rt = runtime(onair, receiver.url, clock, heartbeat_seconds="5")
    consuming = {"now": True}
    worker = Watchdog(rt, "celery@a", rt.settings, lambda: consuming["now"])
    planner = Watchdog(rt, "celery@planner", rt.settings)  # watches, consumes nothing
    for dog in (worker, planner):
        dog.started = time.monotonic() - 60  # past a fresh worker's grace

    def rounds(n: int) -> None:
        for _ in range(n):
            if consuming["now"]:
                worker.check_once()  # its heartbeat says its consumer consumes
            else:
                worker.check_consumers(clock.now())
            planner.check_consumers(clock.now())
            clock.advance(5)

    rounds(3)
    consuming["now"] = False  # the broker went away: the worker lives, its consumer does not
    rounds(6)
    consuming["now"] = True
    rounds(3)
    assert sender.flush(10)
    [gone] = receiver.of_event("no_consumer")
    [back] = receiver.of_event("consumer_recovered")
    assert gone["text"].startswith("onair: no worker consumes the actions queue (consumed nothing for ")
    assert back["text"] == "onair: a worker consumes the actions queue again after 35 s: celery@a"
    assert back["alert_key"] == f"consumer_recovered:{gone['last_consumer_at'][:19]}+00:00"

    consuming["now"] = False  # a second outage, later: told again, with its own recovery
    rounds(6)
    consuming["now"] = True
    rounds(2)
    assert sender.flush(10)
    assert len(receiver.of_event("no_consumer")) == 2
    assert len(receiver.of_event("consumer_recovered")) == 2

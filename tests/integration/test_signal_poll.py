"""Broadcast health where no webhook comes: the watchdog's signal check reads the stream from the
simulator (over real HTTP) once the grace has passed, alerts a missing signal once, reads again only
after a minute, and tells the recovery; a stream FastPix sends webhooks about is never read. SQLite
and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.integration.simulator_fixture import Simulator
from tests.integration.store_support import BACKENDS, migrated_engine, simulator_runtime
from worker.clock import FixedClock
from worker.domain.outcomes import Outcome
from worker.fastpix.client import FastPixClient
from worker.service import outcomes, signal_watch
from worker.service.runtime import Runtime
from worker.store import webhooks
from worker.store.db import transaction
from worker.store.models import Action, Broadcast
from worker.store.schedules import upsert_stream
from worker.store.slots import insert_slot


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


@pytest.fixture
def rt(engine: Engine, simulator: Simulator) -> Iterator[Runtime]:
    yield from simulator_runtime(engine, simulator)


def enabled_broadcast(engine: Engine, stream: str, title: str, start: datetime) -> Broadcast:
    """A running broadcast whose enable succeeded, on a stream onair knows."""
    with transaction(engine) as session:
        upsert_stream(session, stream, name=title.split()[0], status=None, seen_at=start - timedelta(hours=1))
        row = insert_slot(
            session,
            Broadcast(
                stream_id=stream,
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                lead_seconds=0,
                title=title,
            ),
        )
        session.add(
            Action(
                idempotency_key=f"test:enable:{row.id}",
                stream_id=stream,
                kind="enable",
                source="broadcast",
                source_id=row.id,
                due_at=start,
                deadline_at=row.ends_at,
                state="succeeded",
                next_attempt_at=start,
                reason="test",
            )
        )
        session.flush()
        session.expunge(row)
        return row


def gets(simulator: Simulator, stream: str) -> int:
    return len(simulator.calls(stream_id=stream, endpoint="get"))


def test_without_webhooks_the_stream_is_polled_and_no_signal_alerted_once(
    rt: Runtime, engine: Engine, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        quiet = api.create_stream().stream_id
        heard = api.create_stream().stream_id
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    row = enabled_broadcast(engine, quiet, "Studio-B Evening show", start)
    enabled_broadcast(engine, heard, "Studio-C Late show", start)
    with transaction(engine) as session:  # FastPix told us about this one: it goes live at the start
        webhooks.record(
            session, webhooks.Received("evt-1", "video.live_stream.active", heard, "active", start), start
        )
    clock = FixedClock(datetime.now(UTC))
    rt.clock = clock

    [alert] = signal_watch.check(rt, clock.now())
    assert alert.event == "no_signal" and alert.fields["broadcast_id"] == row.id
    assert "no signal on Studio-B for 'Studio-B Evening show', started" in alert.text
    assert alert.text.endswith(", 2 min ago")
    assert gets(simulator, quiet) == 1 and gets(simulator, heard) == 0

    # The next rounds: no second alert, no second read within the minute, and nothing in the log (each
    # round once logged every alert of every silent slot again, as raised by another process).
    clock.set(clock.now() + timedelta(seconds=5))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert signal_watch.check(rt, clock.now()) == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []
    assert gets(simulator, quiet) == 1

    simulator.connect(quiet)
    clock.set(clock.now() + signal_watch.POLL_EVERY)
    [back] = signal_watch.check(rt, clock.now())
    assert back.event == "signal_recovered" and gets(simulator, quiet) == 2 and gets(simulator, heard) == 0
    with transaction(engine, immediate=False) as session:
        verdict = outcomes.verdicts(session, [row], clock.now())[row.id]
    assert verdict.outcome is Outcome.LIVE and verdict.live_minutes == 0.0


class TickingClock(FixedClock):
    """Time passes while a round works, as on a real clock: each reading is 10 ms after the last."""

    def now(self) -> datetime:
        self.advance(0.01)
        return super().now()


def test_a_stream_live_at_the_first_poll_raises_nothing_and_a_recovery_is_told_once(
    rt: Runtime, engine: Engine, simulator: Simulator
) -> None:
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        live = api.create_stream().stream_id
        late = api.create_stream().stream_id
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    enabled_broadcast(engine, live, "Studio-D Morning show", start)
    enabled_broadcast(engine, late, "Studio-E Noon show", start)
    simulator.connect(live, delay=0)
    clock = TickingClock(datetime.now(UTC))
    rt.clock = clock

    # Without webhooks the first look is after the grace: a live answer is no alert (it used to be a
    # "no signal" and a "signal back" at once, for every healthy slot).
    [alert] = signal_watch.check(rt, clock.now())
    assert alert.event == "no_signal" and alert.fields["stream_id"] == late

    simulator.connect(late, delay=0)
    clock.advance(signal_watch.POLL_EVERY.total_seconds())
    [back] = signal_watch.check(rt, clock.now())
    assert back.event == "signal_recovered" and back.fields["stream_id"] == late
    # The next round, by another worker: the recovery was told, whatever the time the round began.
    clock.advance(5)
    assert signal_watch.check(rt, clock.now()) == []

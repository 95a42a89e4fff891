"""The executor keeps the leases of the actions it runs alive, writes ahead what it is about to send,
and does not act on an action whose lease it lost. A run that finds the work done by an earlier
attempt whose worker died after sending says so. Real simulator over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from tests.integration.simulator_fixture import Simulator
from tests.integration.store_support import BACKENDS, migrated_engine, planned, simulator_runtime
from worker.domain.attempts import Attempt, AttemptKind
from worker.domain.types import ActionKind, ActionState
from worker.fastpix.client import FastPixClient
from worker.service import executor
from worker.service.runtime import Runtime
from worker.store import ledger
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent

LEASE_SECONDS = 1.0


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


@pytest.fixture
def rt(engine: Engine, simulator: Simulator) -> Iterator[Runtime]:
    yield from simulator_runtime(engine, simulator, lease_seconds=LEASE_SECONDS)


def _disabled_stream(simulator: Simulator) -> str:
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        stream_id = api.create_stream().stream_id
        api.disable_stream(stream_id)
    return stream_id


def _claim_enable(
    engine: Engine,
    stream: str,
    due: datetime,
    lease: timedelta = timedelta(seconds=LEASE_SECONDS),
    ahead: timedelta = timedelta(seconds=5),
) -> ledger.Claim:
    with transaction(engine) as session:
        ledger.apply_plan(
            session,
            [planned(stream, ActionKind.ENABLE, due, source_id=1)],
            scope_sources=[],
            window_start=due - timedelta(days=1),
            now=datetime.now(UTC),
        )
    [claim] = ledger.claim_due(engine, now=datetime.now(UTC), ahead=ahead, lease=lease, owner="test", limit=1)
    return claim


def _events(engine: Engine, action_id: int) -> list[tuple[str, str | None]]:
    with transaction(engine, immediate=False) as session:
        rows = session.execute(
            select(ActionEvent.event, ActionEvent.http_method)
            .where(ActionEvent.action_id == action_id)
            .order_by(ActionEvent.id)
        )
        return [(event, method) for event, method in rows]


def _row(engine: Engine, action_id: int) -> Action:
    with transaction(engine, immediate=False) as session:
        row = session.get(Action, action_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_slow_call_keeps_its_lease_and_the_act_is_written_ahead(
    engine: Engine, rt: Runtime, simulator: Simulator
) -> None:
    """The enable answers 3 s late under a 1 s lease: the executor renews the lease while it waits,
    so no reclaim can take the action away, and the `sending` event precedes the PUT."""
    stream = _disabled_stream(simulator)
    claim = _claim_enable(engine, stream, datetime.now(UTC))
    simulator.inject_fault("enable", "slow", delay=3.0, stream_id=stream)
    reclaimed: list[int] = []
    outcomes: list[Attempt] = []
    runner = threading.Thread(
        target=lambda: outcomes.extend(executor.execute_batch(rt, [(claim.action_id, claim.lease_token)]))
    )
    runner.start()
    started = time.monotonic()
    while runner.is_alive() and time.monotonic() - started < 20:
        with transaction(engine) as session:  # a dispatcher's reaper, every 0.2 s
            reclaimed.append(ledger.reclaim_expired(session, datetime.now(UTC)))
        time.sleep(0.2)
    runner.join(timeout=20)

    assert not any(reclaimed), f"the lease lapsed under a live worker: {reclaimed}"
    assert [o.state for o in outcomes] == [ActionState.SUCCEEDED]
    row = _row(engine, claim.action_id)
    assert (row.state, row.outcome) == ("succeeded", "enabled")
    events = _events(engine, claim.action_id)
    assert events.index(("sending", None)) < events.index(("api_call", "PUT"))


def test_a_run_whose_lease_was_taken_back_does_not_act(
    engine: Engine, rt: Runtime, simulator: Simulator
) -> None:
    """Between the take-over and the instant, the action is claimed by someone else (the lease lapsed
    while this worker stalled): the write-ahead finds the lease gone and the call never leaves."""
    stream = _disabled_stream(simulator)
    claim = _claim_enable(engine, stream, datetime.now(UTC) + timedelta(seconds=2))
    since = simulator.last_seq()
    outcomes: list[Attempt] = []
    runner = threading.Thread(
        target=lambda: outcomes.extend(executor.execute_batch(rt, [(claim.action_id, claim.lease_token)]))
    )
    runner.start()
    while _row(engine, claim.action_id).lease_owner != rt.identity:
        time.sleep(0.02)
    with transaction(engine) as session:
        session.execute(
            update(Action).where(Action.id == claim.action_id).values(lease_token="another-worker")
        )
    runner.join(timeout=20)

    assert "enable" not in [c.endpoint for c in simulator.calls(since)], "the act never left"
    [outcome] = outcomes
    assert (outcome.kind, outcome.state) == (AttemptKind.LEASE_LOST, None)
    assert ("sending", None) not in _events(engine, claim.action_id)


class _StallAfterTheWriteAhead:
    """The worker's clock: real time until its action pool first reads the clock at or after `instant`
    with the action's `sending` event committed; that read finds the action reclaimed by another worker
    and the time a stall later, as a worker frozen between its write-ahead and its call sees the world
    when it resumes. The batch's own thread (the heartbeat's) sees no jump: its next beat is seconds
    away."""

    def __init__(self, engine: Engine, stall: timedelta) -> None:
        self.engine = engine
        self.stall = stall
        self.action_id = 0
        self.instant = datetime.max.replace(tzinfo=UTC)
        self.offset = timedelta(0)
        self.batch_thread: threading.Thread | None = None

    def now(self) -> datetime:
        real = datetime.now(UTC)
        if (
            not self.offset
            and real >= self.instant
            and threading.current_thread() is not self.batch_thread
            and ("sending", None) in _events(self.engine, self.action_id)
        ):
            with transaction(self.engine) as session:  # what the other worker's reclaim did
                session.execute(
                    update(Action).where(Action.id == self.action_id).values(lease_token="another-worker")
                )
            self.offset = self.stall
        return real + self.offset


def test_a_run_that_stalls_past_its_lease_after_writing_ahead_does_not_send(
    engine: Engine, simulator: Simulator
) -> None:
    """The worker wrote `sending`, then stalled past its lease (shipped 10 s lease, so its heartbeat
    beats every 2 s and has not yet noticed) while another worker reclaimed the action. When it wakes
    at the instant it renews its lease before the call, finds the action gone and sends nothing."""
    clock = _StallAfterTheWriteAhead(engine, stall=timedelta(seconds=15))
    runtime = simulator_runtime(engine, simulator, clock=clock)
    rt = next(runtime)
    stream = _disabled_stream(simulator)
    due = datetime.now(UTC) + timedelta(seconds=3)
    claim = _claim_enable(engine, stream, due, lease=timedelta(seconds=10), ahead=timedelta(seconds=10))
    clock.action_id, clock.instant = claim.action_id, due
    since = simulator.last_seq()
    outcomes: list[Attempt] = []
    runner = threading.Thread(
        target=lambda: outcomes.extend(executor.execute_batch(rt, [(claim.action_id, claim.lease_token)]))
    )
    clock.batch_thread = runner
    runner.start()
    runner.join(timeout=20)
    next(runtime, None)

    assert "enable" not in [c.endpoint for c in simulator.calls(since)], (
        "the stalled worker's call never left"
    )
    [outcome] = outcomes
    assert (outcome.kind, outcome.state) == (AttemptKind.LEASE_LOST, None)
    assert ("sending", None) in _events(engine, claim.action_id), "the stall came after the write-ahead"


def test_a_run_after_an_in_doubt_send_reports_who_did_the_work(
    engine: Engine, rt: Runtime, simulator: Simulator
) -> None:
    """Attempt 1 wrote `sending`, its call enabled the stream, and its worker died before recording
    the answer. Attempt 2 finds the stream enabled and says whose act that was."""
    stream = _disabled_stream(simulator)
    claim = _claim_enable(engine, stream, datetime.now(UTC))
    with transaction(engine) as session:
        assert ledger.record_intents(
            session,
            claim.lease_token,
            [ledger.Intent(claim.action_id, 1, "enabling")],
            now=datetime.now(UTC),
            actor="w1",
        ) == {claim.action_id}
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        api.enable_stream(stream)  # what the dead worker's call did
    with transaction(engine) as session:  # its lease lapses and the dispatcher claims it again
        ledger.reclaim_expired(session, datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS + 1))
    [again] = ledger.claim_due(
        engine, now=datetime.now(UTC), ahead=timedelta(0), lease=timedelta(seconds=10), owner="test", limit=1
    )

    [outcome] = executor.execute_batch(rt, [(again.action_id, again.lease_token)])

    expected = "already enabled: done by attempt 1 (its worker died after sending), confirmed by attempt 2"
    assert (outcome.state, outcome.detail) == (ActionState.SUCCEEDED, expected)
    row = _row(engine, claim.action_id)
    assert (row.state, row.outcome, row.attempts) == ("succeeded", expected, 2)


def test_a_batch_writes_ahead_every_act_and_a_run_that_lost_its_lease_alone_stays_silent(
    engine: Engine, rt: Runtime, simulator: Simulator
) -> None:
    """Eight enables due at one instant, their `sending` events committed in groups: each enable that
    left has its `sending` event before its call, and the one whose lease was taken back between the
    take-over and the instant neither writes ahead nor acts, whatever its group-mates do."""
    streams = [_disabled_stream(simulator) for _ in range(8)]
    due = datetime.now(UTC) + timedelta(seconds=2)
    with transaction(engine) as session:
        ledger.apply_plan(
            session,
            [planned(s, ActionKind.ENABLE, due, source_id=i + 1) for i, s in enumerate(streams)],
            scope_sources=[],
            window_start=due - timedelta(days=1),
            now=datetime.now(UTC),
        )
    claims = ledger.claim_due(
        engine,
        now=datetime.now(UTC),
        ahead=timedelta(seconds=5),
        lease=timedelta(seconds=LEASE_SECONDS),
        owner="test",
        limit=10,
    )
    assert len(claims) == len(streams)
    lost = claims[3]
    since = simulator.last_seq()
    attempts: list[Attempt] = []
    runner = threading.Thread(
        target=lambda: attempts.extend(
            executor.execute_batch(rt, [(c.action_id, c.lease_token) for c in claims])
        )
    )
    runner.start()
    while _row(engine, lost.action_id).lease_owner != rt.identity:
        time.sleep(0.02)
    with transaction(engine) as session:
        session.execute(
            update(Action).where(Action.id == lost.action_id).values(lease_token="another-worker")
        )
    runner.join(timeout=30)

    enabled = sorted(c.stream_id for c in simulator.calls(since) if c.endpoint == "enable")
    assert enabled == sorted(s for s in streams if s != lost.stream_id)
    kinds = {a.action_id: a.kind for a in attempts}
    assert kinds.pop(lost.action_id) is AttemptKind.LEASE_LOST
    assert set(kinds.values()) == {AttemptKind.DONE}
    assert ("sending", None) not in _events(engine, lost.action_id)
    for claim in claims:
        if claim is not lost:
            events = _events(engine, claim.action_id)
            assert events.index(("sending", None)) < events.index(("api_call", "PUT"))

"""The executor runs a batch of claimed actions: each checked and acted on at most once, a duplicated
or stale message refused, and one slow call holding no other action of the batch back. Real simulator
over HTTP, real database (SQLite and PostgreSQL), the system clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.integration.simulator_fixture import Simulator
from tests.integration.store_support import BACKENDS, migrated_engine, planned, simulator_runtime
from worker.domain.attempts import STALE_DETAIL, Attempt, AttemptKind
from worker.domain.types import ActionKind, ActionState
from worker.fastpix.client import FastPixClient
from worker.service import executor
from worker.service.runtime import Runtime
from worker.store import ledger
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent

LEASE = timedelta(seconds=60)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


@pytest.fixture
def rt(engine: Engine, simulator: Simulator) -> Iterator[Runtime]:
    yield from simulator_runtime(engine, simulator)


def _streams(simulator: Simulator, *, disabled: int, enabled: int) -> list[str]:
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        ids = [api.create_stream().stream_id for _ in range(disabled + enabled)]
        for stream_id in ids[:disabled]:
            api.disable_stream(stream_id)
    return ids


def _enables_due(engine: Engine, streams: list[str], due: datetime) -> list[ledger.Claim]:
    """Enables of `streams` due at `due`, planned and claimed now (ahead of their instant, or after it:
    SQLite stores a due time rounded up to the millisecond)."""
    with transaction(engine) as session:
        ledger.apply_plan(
            session,
            [planned(s, ActionKind.ENABLE, due, source_id=i + 1) for i, s in enumerate(streams)],
            scope_sources=[],
            window_start=due - timedelta(days=1),
            now=datetime.now(UTC),
        )
    now = datetime.now(UTC)
    ahead = max(due - now, timedelta(0)) + timedelta(seconds=1)
    claims = ledger.claim_due(engine, now=now, ahead=ahead, lease=LEASE, owner="test", limit=100)
    assert len(claims) == len(streams)
    return sorted(claims, key=lambda c: streams.index(c.stream_id))


def _states(engine: Engine) -> dict[str, str]:
    with transaction(engine, immediate=False) as session:
        return {stream: state for stream, state in session.execute(select(Action.stream_id, Action.state))}


def test_a_batch_acts_once_per_stream_and_refuses_duplicated_and_stale_messages(
    engine: Engine, rt: Runtime, simulator: Simulator
) -> None:
    off, on = _streams(simulator, disabled=1, enabled=1)
    first, second = _enables_due(engine, [off, on], datetime.now(UTC))
    since = simulator.last_seq()

    outcomes = executor.execute_batch(
        rt,
        [
            (first.action_id, first.lease_token),
            (second.action_id, second.lease_token),
            (first.action_id, first.lease_token),  # named twice in one message
        ],
    )
    # The same message delivered again, and one whose lease was taken back.
    again = executor.execute_batch(
        rt, [(first.action_id, first.lease_token), (second.action_id, "a-lease-that-expired")]
    )

    assert [(o.kind, o.state, o.detail) for o in outcomes] == [
        (AttemptKind.DONE, ActionState.SUCCEEDED, "enabled"),
        (AttemptKind.DONE, ActionState.SUCCEEDED, "already enabled"),
        (AttemptKind.STALE, None, STALE_DETAIL),
    ]
    assert again == [Attempt.stale(first.action_id), Attempt.stale(second.action_id)]
    enables = [c.stream_id for c in simulator.calls(since) if c.endpoint == "enable"]
    assert enables == [off], "one enable, for the stream that was disabled"
    assert _states(engine) == {off: "succeeded", on: "succeeded"}
    with transaction(engine, immediate=False) as session:
        calls = session.execute(
            select(ActionEvent.http_method).where(ActionEvent.event == "api_call").order_by(ActionEvent.id)
        ).scalars()
        assert sorted(calls) == ["GET", "GET", "PUT"], "every call of the batch is in the history"


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_slow_call_holds_no_other_action_of_its_batch_back(
    engine: Engine, rt: Runtime, simulator: Simulator
) -> None:
    slow, quick = _streams(simulator, disabled=2, enabled=0)
    claims = _enables_due(engine, [slow, quick], datetime.now(UTC))
    simulator.inject_fault("get", "slow", delay=4.0, stream_id=slow)
    started = time.monotonic()
    runner = threading.Thread(
        target=executor.execute_batch, args=(rt, [(c.action_id, c.lease_token) for c in claims])
    )
    runner.start()
    try:
        while _states(engine).get(quick) != "succeeded":
            assert time.monotonic() - started < 3.0, "the quick action waited for the slow call"
            time.sleep(0.05)
        assert _states(engine)[slow] == "claimed", "the slow action is still at its call"
    finally:
        runner.join(timeout=30)
    assert _states(engine) == {slow: "succeeded", quick: "succeeded"}


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_under_a_budget_a_batch_keeps_to_it_and_what_cannot_run_by_its_deadline_retries_with_the_cause(
    engine: Engine, rt: Runtime, simulator: Simulator, tmp_path: Path
) -> None:
    """FASTPIX_MAX_RPS=4 (3.6/s, one at once), six enables each due now with 2 s to its deadline: no
    second of calls goes over the budget, and the enables that found no slot in time were never sent;
    each is put back for a retry (or, on a machine slow enough that the retry would come at the
    deadline, given up) with a recorded error naming the budget and the deadline."""
    budgeted = Runtime(
        settings=rt.settings.model_copy(update={"data_dir": str(tmp_path / "data")}),
        fastpix=rt.fastpix.model_copy(update={"max_rps": 4.0}),
        engine=engine,
    )
    streams = _streams(simulator, disabled=6, enabled=0)
    now = datetime.now(UTC)
    with transaction(engine) as session:
        ledger.apply_plan(
            session,
            [
                planned(s, ActionKind.ENABLE, now, source_id=i + 1, deadline=timedelta(seconds=2))
                for i, s in enumerate(streams)
            ],
            scope_sources=[],
            window_start=now - timedelta(days=1),
            now=now,
        )
    claims = ledger.claim_due(
        engine, now=now + timedelta(milliseconds=10), ahead=timedelta(0), lease=LEASE, owner="test", limit=10
    )
    since = simulator.last_seq()
    try:
        outcomes = executor.execute_batch(budgeted, [(c.action_id, c.lease_token) for c in claims])
    finally:
        budgeted.client.close()
        budgeted.action_pool.shutdown()
    calls = simulator.calls(since)
    stamps = sorted(datetime.fromisoformat(c.time) for c in calls)
    busiest = max(sum(1 for s in stamps if start <= s < start + timedelta(seconds=1)) for start in stamps)
    assert busiest <= 4
    assert all(c.http_status != 429 for c in calls)
    succeeded = [o for o in outcomes if o.state is ActionState.SUCCEEDED]
    no_slot = [o for o in outcomes if o.kind is AttemptKind.RETRY or o.state is ActionState.FAILED]
    # A read and an act per enable at 3.6/s: at most four fit in the 2 s before the deadlines (the
    # fourth act at ~1.94 s), so at least two find no slot.
    assert 1 <= len(succeeded) <= 4 and len(no_slot) >= 2 and len(succeeded) + len(no_slot) == 6
    enabled = {c.stream_id for c in calls if c.endpoint == "enable"}
    assert len(enabled) == len(succeeded), "an enable that found no slot was never sent"
    with transaction(engine, immediate=False) as session:
        errors = (
            session.execute(select(Action.last_error).where(Action.state.in_(("pending", "failed"))))
            .scalars()
            .all()
        )
    assert len(errors) == len(no_slot) and all(
        e and "FASTPIX_MAX_RPS=4" in e and "before the action's deadline" in e for e in errors
    ), errors


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_message_delivered_long_before_its_instant_still_acts_on_the_instant(
    engine: Engine, rt: Runtime, simulator: Simulator
) -> None:
    """A wake-up that waited in the broker can arrive long before its instant (here more than two of the
    executor's wait slices): the run waits the whole way, however long (once a single capped sleep made
    a message that came early enough act early), reads the stream just before the instant, and the act
    leaves on the instant, never before it."""
    [stream] = _streams(simulator, disabled=1, enabled=0)
    due = datetime.now(UTC) + timedelta(seconds=2 * executor.WAIT_SLICE_SECONDS + 2)
    [claim] = _enables_due(engine, [stream], due)
    since = simulator.last_seq()

    [attempt] = executor.execute_batch(rt, [(claim.action_id, claim.lease_token)])

    assert (attempt.kind, attempt.state) == (AttemptKind.DONE, ActionState.SUCCEEDED)
    calls = simulator.calls(since, stream_id=stream)
    [read] = [c for c in calls if c.endpoint == "get"]
    [enable] = [c for c in calls if c.endpoint == "enable"]
    assert datetime.fromisoformat(read.time) >= due - timedelta(seconds=1), "the state read is fresh"
    assert datetime.fromisoformat(enable.time) >= due, f"acted {enable.time}, due {due.isoformat()}"


@pytest.fixture
def one_thread(engine: Engine, simulator: Simulator) -> Iterator[Runtime]:
    yield from simulator_runtime(engine, simulator, worker_concurrency=1)


def test_a_batch_due_later_holds_no_action_thread_before_its_time(
    engine: Engine, one_thread: Runtime, simulator: Simulator
) -> None:
    """A run takes a thread of the worker's action pool only just before its instant: a batch taken
    over seconds before its instant leaves the pool to a batch due sooner (once its run slept in the
    pool's only thread until its instant, and the sooner act left when it woke, ~4.5 s late). The bound
    leaves room for a loaded machine."""
    later, sooner = _streams(simulator, disabled=2, enabled=0)
    now = datetime.now(UTC)
    due = {later: now + timedelta(seconds=6), sooner: now + timedelta(seconds=1.5)}
    with transaction(engine) as session:
        ledger.apply_plan(
            session,
            [planned(s, ActionKind.ENABLE, at, source_id=i + 1) for i, (s, at) in enumerate(due.items())],
            scope_sources=[],
            window_start=now - timedelta(days=1),
            now=now,
        )
    claims = ledger.claim_due(
        engine, now=datetime.now(UTC), ahead=timedelta(seconds=10), lease=LEASE, owner="test", limit=10
    )
    by_stream = {c.stream_id: c for c in claims}
    since = simulator.last_seq()

    def run(stream: str) -> None:
        executor.execute_batch(one_thread, [(by_stream[stream].action_id, by_stream[stream].lease_token)])

    first = threading.Thread(target=run, args=(later,))  # as two Celery pool threads would
    first.start()
    time.sleep(0.2)
    run(sooner)
    first.join()

    for stream, at in due.items():
        [enable] = simulator.calls(since, stream_id=stream, endpoint="enable")
        lateness = (datetime.fromisoformat(enable.time) - at).total_seconds()
        assert 0 <= lateness < 2.0, f"{stream[:8]} acted {lateness:+.3f} s from its instant"


def test_a_burst_larger_than_the_thread_pool_reads_every_stream_before_its_instant(
    engine: Engine, one_thread: Runtime, simulator: Simulator
) -> None:
    """Between its state read and its act a run holds no thread of the action pool: with one thread,
    six enables due at one instant are all read before the instant and all sent on it (once each run
    slept in its thread until the instant, so only the first was read in time and the other five read
    their streams after the instant, making their acts late)."""
    streams = _streams(simulator, disabled=6, enabled=0)
    due = datetime.now(UTC) + timedelta(seconds=3)
    claims = _enables_due(engine, streams, due)
    since = simulator.last_seq()

    attempts = executor.execute_batch(one_thread, [(c.action_id, c.lease_token) for c in claims])

    assert [a.state for a in attempts] == [ActionState.SUCCEEDED] * 6
    for stream in streams:
        [read] = simulator.calls(since, stream_id=stream, endpoint="get")
        [enable] = simulator.calls(since, stream_id=stream, endpoint="enable")
        read_at, acted_at = datetime.fromisoformat(read.time), datetime.fromisoformat(enable.time)
        assert read_at < due, f"{stream[:8]} read {(read_at - due).total_seconds():+.3f} s from its instant"
        assert acted_at >= due, f"{stream[:8]} acted {(acted_at - due).total_seconds():+.3f} s early"


def test_a_slow_read_holds_no_other_act_of_its_batch_past_its_instant(
    engine: Engine, rt: Runtime, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two enables due at one instant, one stream's read answering 1.5 s late: the other act still
    leaves on the instant. The batch's outcomes are written every 5 s here, so a batch that noticed a
    finished read only when it next wrote outcomes would send that act seconds late."""
    monkeypatch.setattr(executor, "RECORD_EVERY_SECONDS", 5.0)
    slow, quick = _streams(simulator, disabled=2, enabled=0)
    due = datetime.now(UTC) + timedelta(seconds=2.5)
    claims = _enables_due(engine, [slow, quick], due)
    simulator.inject_fault("get", "slow", delay=1.5, stream_id=slow)
    since = simulator.last_seq()

    attempts = executor.execute_batch(rt, [(c.action_id, c.lease_token) for c in claims])

    assert [a.state for a in attempts] == [ActionState.SUCCEEDED] * 2
    [acted] = simulator.calls(since, stream_id=quick, endpoint="enable")
    lateness = (datetime.fromisoformat(acted.time) - due).total_seconds()
    assert 0 <= lateness < 0.5, f"the quick act left {lateness:+.3f} s from its instant"

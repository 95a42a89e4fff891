"""The shared FastPix request budget across processes: in real Redis and in the embedded file, and a
429 from the simulator over real HTTP pausing a caller in another process."""

from __future__ import annotations

import math
import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.simulator_fixture import Simulator
from worker.domain import budget
from worker.domain.budget import Bucket, Granted, Priority, Refused, State
from worker.fastpix import FastPixClient, RateLimited
from worker.service.budget import Limiter
from worker.store.budget import BucketStore, FileBucketStore, RedisBucketStore

# One step of the mirror test: what the store does, and what the domain says it should.
Step = tuple[Callable[[], object], Callable[[State], tuple[State, object]]]
RPS = 100  # refills 90/s, holds 5
RUN_SECONDS = 3.0
PROCESSES = 3
THREADS = 4


@pytest.fixture
def redis_key(redis_url: str) -> Iterator[str]:
    key = f"onair-test:budget:{uuid.uuid4().hex}"
    yield key
    redis.Redis.from_url(redis_url).delete(key)


def make_store(kind: str, where: str, key: str) -> BucketStore:
    if kind == "redis":
        return RedisBucketStore(redis.Redis.from_url(where), Bucket(RPS), key=key)
    return FileBucketStore(Path(where), Bucket(RPS))


def _hammer(kind: str, where: str, key: str, stop_at: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One worker process: THREADS threads acquiring as fast as they can until `stop_at` (wall time)."""
    import threading

    limiter = Limiter(make_store(kind, where, key), RPS, max_wait=10.0)
    stamps: list[float] = []
    lock = threading.Lock()

    def run() -> None:
        while time.time() < stop_at:
            limiter.acquire("PUT", "/live/streams/x/live-enable")
            with lock:
                stamps.append(time.time())

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(stamps)


def measure_shared_rate(kind: str, where: str, key: str) -> list[float]:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    stop_at = time.time() + 1.0 + RUN_SECONDS  # a second for the processes to start
    procs = [ctx.Process(target=_hammer, args=(kind, where, key, stop_at, out)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    stamps = [s for _ in procs for s in out.get(timeout=60)]
    for proc in procs:
        proc.join(timeout=30)
    return sorted(stamps)


def busiest_second(stamps: list[float]) -> int:
    # The last grants may be stamped a moment after stop_at by a thread that was sleeping to its slot.
    return max(sum(1 for s in stamps if start <= s < start + 1.0) for start in stamps)


@pytest.mark.parametrize("kind", ["redis", "file"])
def test_processes_sharing_the_budget_never_exceed_it(
    kind: str, redis_url: str, redis_key: str, tmp_path: Path
) -> None:
    where = redis_url if kind == "redis" else str(tmp_path / "fastpix-budget")
    stamps = measure_shared_rate(kind, where, redis_key)
    span = stamps[-1] - stamps[0]
    # The ceiling: the burst plus the refill over the span, plus a few stamps: a thread stamps a little
    # after its grant on a loaded machine, and a first stamp taken late shortens the span measured.
    assert len(stamps) <= Bucket(RPS).capacity + Bucket(RPS).rate * span + 4
    # The burst and a second's refill, plus a few stamps threads took late on a loaded machine (a
    # thread descheduled past its slot stamps it together with the next one's).
    assert busiest_second(stamps) <= Bucket(RPS).rate + Bucket(RPS).capacity + 4
    # And the budget is used, not starved: twelve callers asking nonstop get at least half of it even
    # on a loaded machine (all of it, give or take a few, on a quiet one).
    assert len(stamps) >= 0.5 * Bucket(RPS).rate * RUN_SECONDS


def test_the_redis_script_follows_the_domain_rules(redis_url: str, redis_key: str) -> None:
    """The Lua script mirrors worker.domain.budget: the same answers for the same steps and clock."""
    bucket = Bucket(20)  # refills 18/s, holds 1
    store = RedisBucketStore(redis.Redis.from_url(redis_url), bucket, key=redis_key)
    now = 1000.0
    store.now = lambda: now
    state = State.full(bucket, now)

    def step_reserve(
        priority: Priority, max_wait: float
    ) -> tuple[Callable[[], object], Callable[[State], tuple[State, object]]]:
        return (
            lambda: store.reserve(priority, max_wait),
            lambda s: budget.reserve(bucket, s, now, priority, max_wait),
        )

    def step_pause(seconds: float) -> Step:
        return (lambda: store.pause(seconds), lambda s: (budget.pause(bucket, s, now, seconds), None))

    plan = [
        (0.0, step_reserve(Priority.ACT, math.inf)),
        (0.0, step_reserve(Priority.ACT, math.inf)),
        (0.0, step_reserve(Priority.READ, math.inf)),
        (0.0, step_reserve(Priority.SAMPLE, math.inf)),
        (0.0, step_reserve(Priority.ACT, 0.01)),
        (0.5, step_reserve(Priority.SAMPLE, math.inf)),
        (0.5, step_reserve(Priority.ACT, math.inf)),
        (0.5, step_reserve(Priority.ACT, math.inf)),
        (0.5, step_pause(2.0)),
        (0.5, step_pause(1.0)),
        (0.5, step_reserve(Priority.ACT, math.inf)),
        (0.5, step_reserve(Priority.READ, math.inf)),
        (3.0, step_reserve(Priority.SAMPLE, math.inf)),
    ]
    for advance, (remote, local) in plan:
        now += advance
        state, expected = local(state)
        got = remote()
        if isinstance(expected, Granted):
            assert isinstance(got, Granted) and got.wait == pytest.approx(expected.wait, abs=1e-6)
        elif isinstance(expected, Refused):
            assert isinstance(got, Refused) and got.paused == expected.paused
            assert got.retry_in == pytest.approx(expected.retry_in, abs=1e-6)
        assert store.paused_for() == pytest.approx(max(0.0, state.paused_until - now), abs=1e-6)


def test_a_429_in_one_process_pauses_a_caller_in_another(
    simulator: Simulator, redis_url: str, redis_key: str
) -> None:
    """The simulator limits FastPix to 5 requests a second; onair's budget was set too high (1000/s).
    The first 429 pauses every caller sharing the budget for the Retry-After (1 s), so a caller in
    another process waits out the pause instead of earning its own 429."""
    simulator.reset()
    token, secret = simulator.credentials
    with FastPixClient(simulator.base_url, token, secret) as plain:
        stream_id = plain.create_stream().stream_id
    simulator.set_rate_limit(5)
    try:
        ctx = multiprocessing.get_context("fork")
        tripped = ctx.Event()
        other = ctx.Process(
            target=_call_after_event,
            args=(simulator.base_url, token, secret, redis_url, redis_key, stream_id, tripped),
        )
        other.start()
        since = simulator.last_seq()
        with FastPixClient(
            simulator.base_url, token, secret, limiter=shared_limiter(redis_url, redis_key)
        ) as client:
            with pytest.raises(RateLimited) as caught:
                for _ in range(50):
                    client.get_stream(stream_id)
            tripped.set()
        other.join(timeout=30)
        assert other.exitcode == 0
        assert caught.value.retry_after == 1.0
        calls = simulator.calls(since)
        assert [c.http_status for c in calls] == [200] * 5 + [429, 200], "only the first caller met a 429"
        refused, after = (datetime.fromisoformat(c.time) for c in calls[-2:])
        assert (after - refused).total_seconds() >= 0.9  # the 1 s pause, less the 429's own way back
    finally:
        simulator.set_rate_limit(None)


def shared_limiter(redis_url: str, key: str) -> Limiter:
    return Limiter(
        RedisBucketStore(redis.Redis.from_url(redis_url), Bucket(1000), key=key), 1000, max_wait=10
    )


def _call_after_event(
    base_url: str, token: str, secret: str, redis_url: str, key: str, stream_id: str, tripped: Any
) -> None:
    """Another worker process: its first call comes just after the 429 elsewhere."""
    limiter = shared_limiter(redis_url, key)
    tripped.wait(timeout=20)
    with FastPixClient(base_url, token, secret, limiter=limiter) as client:
        client.get_stream(stream_id)

"""The limiter in the FastPix client's call path, on a fixed clock: waiting for a slot, giving up at the
action's deadline without sending, a 429 pausing the next caller, and FASTPIX_MAX_RPS as a setting."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from worker.clock import FixedClock
from worker.config import FastPixSettings, OnairSettings
from worker.domain import budget
from worker.domain.budget import Bucket, Granted, Priority, Refused, State
from worker.fastpix import CallRecord, FastPixClient, RateLimited
from worker.fastpix.errors import BudgetExhausted, Classification, classify
from worker.service.budget import Limiter, limiter_from_settings, waiting_until
from worker.store.budget import FileBucketStore, RedisBucketStore, StoreUnavailable

SID = "04f2ff997551bfeb99db3e099e8e85c8"
ENABLE = f"/live/streams/{SID}/live-enable"
START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Time:
    """One fake clock for the store, the limiter's sleeps and the client's monotonic time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.slept: list[float] = []
        self.clock = FixedClock(START)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.clock.set(START + timedelta(seconds=self.seconds))

    def monotonic(self) -> float:
        return self.seconds


class MemoryStore:
    """The domain rules on one in-process state: what the Redis and file stores share across processes."""

    def __init__(self, bucket: Bucket, time: Time) -> None:
        self.bucket, self.time = bucket, time
        self.state = State.full(bucket, 0.0)
        self.broken = False

    def reserve(self, priority: Priority, max_wait: float) -> Granted | Refused:
        if self.broken:
            raise StoreUnavailable("Redis: ConnectionError")
        self.state, answer = budget.reserve(self.bucket, self.state, self.time.seconds, priority, max_wait)
        return answer

    def pause(self, seconds: float) -> None:
        self.state = budget.pause(self.bucket, self.state, self.time.seconds, seconds)

    def paused_for(self) -> float:
        return max(0.0, self.state.paused_until - self.time.seconds)


@pytest.fixture
def time() -> Time:
    return Time()


def limiter(time: Time, rps: float = 200) -> tuple[Limiter, MemoryStore]:
    store = MemoryStore(Bucket(rps), time)
    return (
        Limiter(store, rps, max_wait=30.0, clock=time.clock, sleep=time.sleep, monotonic=time.monotonic),
        store,
    )


def client(time: Time, lim: Limiter, handler: httpx.MockTransport, calls: list[CallRecord]) -> FastPixClient:
    return FastPixClient(
        "https://api.fastpix.test/v1",
        "token",
        "secret",
        transport=handler,
        on_call=calls.append,
        clock=time.clock,
        monotonic=time.monotonic,
        limiter=lim,
    )


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"success": True})


def test_calls_beyond_the_burst_wait_for_their_slot(time: Time) -> None:
    lim, _ = limiter(time)
    for _ in range(12):
        lim.acquire("PUT", ENABLE)
    assert time.slept == pytest.approx([1 / 180, 1 / 180])


def test_a_call_that_cannot_get_a_slot_before_the_actions_deadline_is_not_sent(time: Time) -> None:
    lim, store = limiter(time)
    store.state = State(-180.0, 0.0)  # a second of queue ahead
    sent: list[httpx.Request] = []
    calls: list[CallRecord] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return ok(request)

    deadline = START + timedelta(milliseconds=500)
    with (
        client(time, lim, httpx.MockTransport(handler), calls) as api,
        waiting_until(deadline),
        pytest.raises(BudgetExhausted) as caught,
    ):
        api.enable_stream(SID)
    assert sent == []
    assert classify(caught.value) is Classification.RETRYABLE
    assert "FASTPIX_MAX_RPS=200" in str(caught.value) and "action's deadline" in str(caught.value)
    assert [c.error for c in calls] == [str(caught.value)]


def test_a_read_gives_up_at_the_call_deadline_outside_an_action(time: Time) -> None:
    lim, store = limiter(time)
    store.state = State(-180.0 * 40, 0.0)  # forty seconds of acts queued: past the 30 s call deadline
    with pytest.raises(BudgetExhausted, match="call deadline"):
        lim.acquire("GET", f"/live/streams/{SID}")
    assert sum(time.slept) <= 30.0


def test_a_429_pauses_the_next_caller_for_the_retry_after(time: Time) -> None:
    lim, _ = limiter(time)
    answers = iter(
        [
            httpx.Response(429, headers={"retry-after": "2"}, json={"success": False}),
            httpx.Response(200, json={"success": True}),
        ]
    )
    calls: list[CallRecord] = []
    with client(time, lim, httpx.MockTransport(lambda request: next(answers)), calls) as api:
        with pytest.raises(RateLimited):
            api.enable_stream(SID)
        assert time.slept == []
        api.disable_stream(SID)
    assert sum(time.slept) >= 2.0


def test_a_waiting_caller_overtaken_by_a_pause_waits_for_the_pause_too(time: Time) -> None:
    lim, store = limiter(time)
    store.state = State(-1.0, 0.0)  # the next slot is ~10 ms away

    real_sleep = time.sleep

    def sleep_through_a_429(seconds: float) -> None:
        if not time.slept:
            store.pause(5.0)  # another process met a 429 while this caller slept
        real_sleep(seconds)

    lim._sleep = sleep_through_a_429
    lim.acquire("PUT", ENABLE)
    assert time.seconds >= 5.0


def test_the_call_goes_when_the_shared_store_is_down(time: Time, caplog: pytest.LogCaptureFixture) -> None:
    lim, store = limiter(time)
    store.broken = True
    with caplog.at_level(logging.WARNING, logger="onair.budget"):
        lim.acquire("PUT", ENABLE)
    assert "calling without it" in caplog.text


@pytest.mark.parametrize("bad", ["abc", "0", "-5", "inf"])
def test_a_bad_max_rps_is_a_settings_error(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTPIX_MAX_RPS", bad)
    with pytest.raises(ValidationError, match="max_rps"):
        FastPixSettings(_env_file=None)


@pytest.mark.parametrize(("raw", "value"), [("", None), ("  ", None), ("200", 200.0), ("0.5", 0.5)])
def test_max_rps_blank_is_unlimited(raw: str, value: float | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTPIX_MAX_RPS", raw)
    assert FastPixSettings(_env_file=None).max_rps == value


def test_the_store_follows_the_backend(tmp_path: Path) -> None:
    onair = OnairSettings(data_dir=str(tmp_path), broker_url="", _env_file=None)
    assert limiter_from_settings(FastPixSettings(max_rps=None, _env_file=None), onair) is None
    fastpix = FastPixSettings(max_rps=50, _env_file=None)
    embedded = limiter_from_settings(fastpix, onair)
    assert embedded is not None and isinstance(embedded.store, FileBucketStore)
    assert embedded.store.path == tmp_path.resolve() / "fastpix-budget"
    production = limiter_from_settings(
        fastpix, onair.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    )
    assert production is not None and isinstance(production.store, RedisBucketStore)
    assert math.isclose(production.max_wait, fastpix.call_deadline)

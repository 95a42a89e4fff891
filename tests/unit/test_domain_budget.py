"""The request budget's rules with a fixed clock: rate, burst, priorities, deadlines and pauses."""

from __future__ import annotations

import math

import pytest

from worker.domain.budget import (
    Bucket,
    Granted,
    Priority,
    Refused,
    State,
    claims_per_tick,
    pause,
    pause_seconds,
    priority_of,
    reserve,
)

BUCKET = Bucket(200)  # refills 180/s, holds 10
RATE = BUCKET.rate


def take_all(state: State, now: float, priority: Priority, count: int) -> tuple[State, list[float]]:
    waits = []
    for _ in range(count):
        state, answer = reserve(BUCKET, state, now, priority, math.inf)
        assert isinstance(answer, Granted)
        waits.append(answer.wait)
    return state, waits


def test_a_full_bucket_gives_its_burst_at_once_then_spaces_calls_at_the_refill_rate() -> None:
    _, waits = take_all(State.full(BUCKET, 0.0), 0.0, Priority.ACT, 30)
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([n / RATE for n in range(1, 21)])


def test_no_second_ever_holds_more_than_the_budget() -> None:
    """Callers reserving as fast as they can: every one-second window of slots holds at most 200."""
    state, slots = State.full(BUCKET, 0.0), []
    now = 0.0
    while now < 5.0:
        state, answer = reserve(BUCKET, state, now, Priority.ACT, math.inf)
        assert isinstance(answer, Granted)
        slots.append(now + answer.wait)
        now += 0.001  # a new caller every millisecond: five times the budget
    slots.sort()
    busiest = max(sum(1 for s in slots if start <= s < start + 1.0) for start in slots)
    assert 180 <= busiest <= 190


def test_an_idle_bucket_refills_only_up_to_its_burst() -> None:
    state, _ = take_all(State.full(BUCKET, 0.0), 0.0, Priority.ACT, 10)
    state, waits = take_all(state, 60.0, Priority.ACT, 11)
    assert waits[:10] == [0.0] * 10 and waits[10] > 0


def test_reads_wait_while_acts_queue_deeper_than_a_second_and_samples_until_the_queue_is_empty() -> None:
    state, _ = take_all(State.full(BUCKET, 0.0), 0.0, Priority.ACT, 10 + 2 * 180)  # two seconds of debt
    for priority, expected in ((Priority.READ, 1.0), (Priority.SAMPLE, 2.0)):
        unchanged, answer = reserve(BUCKET, state, 0.0, priority, math.inf)
        assert unchanged == state
        assert isinstance(answer, Refused) and not answer.paused
        assert answer.retry_in == pytest.approx(expected + 1 / RATE, abs=1e-6)
    _, answer = reserve(BUCKET, state, 0.0, Priority.ACT, math.inf)
    assert isinstance(answer, Granted) and answer.wait == pytest.approx(361 / RATE)
    # Once the queue is under a second deep a read joins it; a sample still waits for a free token.
    _, read = reserve(BUCKET, state, 1.5, Priority.READ, math.inf)
    assert isinstance(read, Granted)
    _, sample = reserve(BUCKET, state, 1.5, Priority.SAMPLE, math.inf)
    assert isinstance(sample, Refused)


def test_a_caller_that_cannot_get_a_slot_before_its_deadline_takes_nothing() -> None:
    state, _ = take_all(State.full(BUCKET, 0.0), 0.0, Priority.ACT, 10 + 180)  # a second of debt
    unchanged, answer = reserve(BUCKET, state, 0.0, Priority.ACT, 0.5)
    assert unchanged == state and isinstance(answer, Refused) and math.isinf(answer.retry_in)
    _, answer = reserve(BUCKET, state, 0.0, Priority.ACT, 1.1)
    assert isinstance(answer, Granted) and answer.wait <= 1.1


def test_a_429_pauses_everyone_and_restarts_from_an_empty_bucket() -> None:
    state = pause(BUCKET, State.full(BUCKET, 0.0), 10.0, pause_seconds(3.0))
    _, answer = reserve(BUCKET, state, 11.0, Priority.ACT, math.inf)
    assert isinstance(answer, Granted) and answer.wait == pytest.approx(2.0 + 1 / RATE)
    _, read = reserve(BUCKET, state, 11.0, Priority.READ, math.inf)
    assert isinstance(read, Refused) and read.paused
    # The pause counts for a caller whose deadline comes first.
    _, answer = reserve(BUCKET, state, 11.0, Priority.ACT, 1.0)
    assert isinstance(answer, Refused) and answer.paused


def test_a_queue_reserved_before_a_429_stays_counted_after_the_pause() -> None:
    """Callers whose slots lie past the pause keep them: a new caller queues behind them, so the second
    after the pause carries no more than the budget."""
    state, _ = take_all(State.full(BUCKET, 0.0), 0.0, Priority.ACT, 10 + 360)  # slots up to 2 s out
    state = pause(BUCKET, state, 0.0, 1.0)
    _, answer = reserve(BUCKET, state, 0.0, Priority.ACT, math.inf)
    assert isinstance(answer, Granted) and answer.wait == pytest.approx(1.0 + 361 / RATE)


def test_a_shorter_pause_never_cuts_a_longer_one_short() -> None:
    state = pause(BUCKET, State.full(BUCKET, 0.0), 0.0, 30.0)
    assert pause(BUCKET, state, 1.0, 1.0) == state
    assert pause(BUCKET, state, 1.0, 40.0).paused_until == 41.0


@pytest.mark.parametrize(
    ("retry_after", "seconds"), [(None, 1.0), (0.0, 1.0), (2.5, 2.5), (float("nan"), 1.0), (86400.0, 300.0)]
)
def test_pause_length_follows_retry_after_within_bounds(retry_after: float | None, seconds: float) -> None:
    assert pause_seconds(retry_after) == seconds


@pytest.mark.parametrize(
    ("method", "path", "priority"),
    [
        ("PUT", "/live/streams/x/live-enable", Priority.ACT),
        ("PATCH", "/live/streams/x", Priority.ACT),
        ("POST", "/live/streams", Priority.ACT),
        ("GET", "/live/streams/x", Priority.READ),
        ("GET", "/live/streams", Priority.READ),
        ("GET", "/live/streams/x/viewer-count", Priority.SAMPLE),
    ],
)
def test_acts_reads_and_samples_are_told_apart_by_the_call(
    method: str, path: str, priority: Priority
) -> None:
    assert priority_of(method, path) is priority


def test_the_dispatcher_keeps_five_seconds_of_the_budget_claimed() -> None:
    assert claims_per_tick(None, 2000) == 2000
    assert claims_per_tick(200, 2000) == 450  # 180 requests/s, two per action
    assert claims_per_tick(0.1, 2000) == 1
    assert claims_per_tick(1e9, 2000) == 2000
    # Workers slower than the budget: claimed actions pile up, and the dispatcher waits for them.
    assert claims_per_tick(200, 2000, in_flight=400) == 50
    assert claims_per_tick(200, 2000, in_flight=900) == 0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_a_budget_must_be_a_positive_rate(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Bucket(bad)

"""Retry policy: capped full-jitter backoff, Retry-After as a minimum, never at or past the deadline."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.domain.retry import GiveUp, RetryAt, RetryPolicy, decide_retry

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
FAR = NOW + timedelta(days=1)
POLICY = RetryPolicy()


def delay_of(decision: RetryAt | GiveUp) -> float:
    assert isinstance(decision, RetryAt), decision
    return (decision.when - NOW).total_seconds()


def test_defaults_are_one_second_base_sixty_cap_twenty_attempts() -> None:
    assert (POLICY.base_seconds, POLICY.cap_seconds, POLICY.max_attempts) == (1.0, 60.0, 20)
    assert [POLICY.ceiling(n) for n in (1, 2, 3, 6, 7, 19)] == [1, 2, 4, 32, 60, 60]


@pytest.mark.parametrize("attempt", [1, 2, 4, 7, 15])
def test_jitter_spreads_over_the_whole_capped_range(attempt: int) -> None:
    rng = random.Random(1234)
    delays = [delay_of(decide_retry(attempt, NOW, FAR, None, POLICY, rng)) for _ in range(400)]
    ceiling = min(60.0, 2.0 ** (attempt - 1))
    assert all(0 <= d <= ceiling for d in delays)
    assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9


def test_seeded_rng_gives_reproducible_retries() -> None:
    first = decide_retry(5, NOW, FAR, None, POLICY, random.Random(7))
    assert first == decide_retry(5, NOW, FAR, None, POLICY, random.Random(7))


def test_retry_after_is_a_minimum() -> None:
    rng = random.Random(3)
    assert all(delay_of(decide_retry(1, NOW, FAR, 30.0, POLICY, rng)) == 30.0 for _ in range(50))
    # Beyond the cap too: the server knows best.
    assert delay_of(decide_retry(1, NOW, FAR, 600.0, POLICY, rng)) == 600.0
    # Shorter than the jitter: the jitter wins.
    assert all(delay_of(decide_retry(10, NOW, FAR, 0.5, POLICY, rng)) >= 0.5 for _ in range(50))


def test_retry_after_past_the_deadline_gives_up_and_says_why() -> None:
    deadline = NOW + timedelta(seconds=20)
    decision = decide_retry(1, NOW, deadline, 120.0, POLICY, random.Random(0))
    assert decision == GiveUp(
        "the next attempt would be at or past the deadline 2026-11-27 18:00:20 UTC "
        "(the server asked to wait 120 s)"
    )


def test_deadline_already_passed_gives_up() -> None:
    decision = decide_retry(1, NOW, NOW, None, POLICY, random.Random(0))
    assert decision == GiveUp("deadline 2026-11-27 18:00:00 UTC has passed")


def test_max_attempts_gives_up() -> None:
    decision = decide_retry(20, NOW, FAR, None, POLICY, random.Random(0))
    assert decision == GiveUp("gave up after 20 attempts (the limit is 20)")
    assert isinstance(decide_retry(19, NOW, FAR, None, POLICY, random.Random(0)), RetryAt)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt numbers start at 1"):
        decide_retry(0, NOW, FAR, None, POLICY, random.Random(0))
    with pytest.raises(ValueError, match="no time zone"):
        decide_retry(1, datetime(2026, 11, 27), FAR, None, POLICY, random.Random(0))
    with pytest.raises(ValueError, match="0 < base"):
        RetryPolicy(base_seconds=0)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


@given(
    attempt=st.integers(min_value=1, max_value=40),
    seconds_left=st.floats(min_value=0.0, max_value=7200.0),
    retry_after=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_retry_is_always_within_now_and_the_deadline(
    attempt: int, seconds_left: float, retry_after: float | None, seed: int
) -> None:
    deadline = NOW + timedelta(seconds=seconds_left)
    decision = decide_retry(attempt, NOW, deadline, retry_after, POLICY, random.Random(seed))
    if isinstance(decision, GiveUp):
        assert decision.reason
        return
    assert NOW <= decision.when < deadline
    assert attempt < POLICY.max_attempts
    delay = (decision.when - NOW).total_seconds()
    if retry_after is not None and retry_after > 0:
        assert delay >= retry_after - 1e-6
    else:
        assert delay <= POLICY.ceiling(attempt) + 1e-6

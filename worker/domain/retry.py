"""When to try a failed call again, as a value: RetryAt(when) or GiveUp(reason). Pure.

Capped full-jitter exponential backoff: the n-th retry waits a uniformly random time in
[0, min(cap, base * 2 ** (n - 1))], so many actions failing together spread out instead of
hammering the API in lockstep. A server's Retry-After is a minimum on top of that. No retry is
scheduled at or past the action's deadline, nor after `max_attempts` attempts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from worker.clock import ensure_utc


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    max_attempts: int = 20

    def __post_init__(self) -> None:
        if not (self.base_seconds > 0 and self.cap_seconds >= self.base_seconds):
            raise ValueError(f"retry policy needs 0 < base ({self.base_seconds}) <= cap ({self.cap_seconds})")
        if self.max_attempts < 1:
            raise ValueError(f"retry policy needs max_attempts >= 1, got {self.max_attempts}")

    def ceiling(self, attempt: int) -> float:
        """The largest backoff after failed attempt number `attempt` (1-based)."""
        exponent = min(attempt - 1, 64)  # 2**64 s is already far past any cap
        return min(self.cap_seconds, self.base_seconds * 2.0**exponent)


@dataclass(frozen=True)
class RetryAt:
    when: datetime


@dataclass(frozen=True)
class GiveUp:
    reason: str


def decide_retry(
    attempt: int,
    now: datetime,
    deadline: datetime,
    retry_after: float | None,
    policy: RetryPolicy,
    rng: random.Random,
) -> RetryAt | GiveUp:
    """What to do after failed attempt number `attempt` (1 = the first try failed)."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    now, deadline = ensure_utc(now), ensure_utc(deadline)
    if attempt >= policy.max_attempts:
        return GiveUp(f"gave up after {attempt} attempts (the limit is {policy.max_attempts})")
    if now >= deadline:
        return GiveUp(f"deadline {_stamp(deadline)} has passed")
    delay = rng.uniform(0.0, policy.ceiling(attempt))
    asked = retry_after if retry_after is not None and retry_after > 0 else None  # NaN counts as absent
    if asked is not None:
        delay = max(delay, asked)
    remaining = (deadline - now).total_seconds()
    when = now + timedelta(seconds=delay) if delay < remaining else deadline
    if when >= deadline:
        why = f" (the server asked to wait {asked:g} s)" if asked is not None and delay == asked else ""
        return GiveUp(f"the next attempt would be at or past the deadline {_stamp(deadline)}{why}")
    return RetryAt(when)


def _stamp(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M:%S} UTC"

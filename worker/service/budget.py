"""The FastPix client's limiter: every call reserves a slot in the shared request budget first, and a
429 pauses every caller in every process (worker.domain.budget holds the rules, worker.store.budget the
shared bucket).

Waiting is bounded: by the action's deadline inside the executor (`waiting_until`), else by the
client's call deadline. A call that cannot get a slot in time fails as `BudgetExhausted`, a retryable
transport error that names the budget, so the executor retries it within the action's deadline.
Waiting never makes a call early: it only ever delays one.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path

from worker.clock import Clock, SystemClock
from worker.config import FastPixSettings, OnairSettings
from worker.domain import budget
from worker.domain.budget import Bucket, Granted, Priority
from worker.fastpix.client import FastPixClient
from worker.fastpix.errors import BudgetExhausted
from worker.store.budget import BucketStore, FileBucketStore, RedisBucketStore, StoreUnavailable

log = logging.getLogger("onair.budget")

_wait_until: ContextVar[datetime | None] = ContextVar("onair_budget_until", default=None)
# A refused caller asks again no sooner than this (and a little jitter spreads a queue of them out).
MIN_RETRY_SECONDS = 0.005


@contextmanager
def waiting_until(when: datetime) -> Iterator[None]:
    """Calls made in this block may wait for the budget until `when` (the action's deadline)."""
    token = _wait_until.set(when)
    try:
        yield
    finally:
        _wait_until.reset(token)


class Limiter:
    def __init__(
        self,
        store: BucketStore,
        max_rps: float,
        *,
        max_wait: float,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.max_rps = max_rps
        self.max_wait = max_wait
        self._clock: Clock = clock or SystemClock()
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()

    def acquire(self, method: str, path: str) -> None:
        """Return when this call may go; raise BudgetExhausted when it cannot before its bound."""
        try:
            self._acquire(method, path)
        except StoreUnavailable as exc:
            # The act on time matters more than the budget: go, and say so (FastPix may answer 429).
            log.warning("FastPix request budget unavailable (%s): calling without it", exc)

    def _acquire(self, method: str, path: str) -> None:
        priority = budget.priority_of(method, path)
        give_up = self._monotonic() + self._bound()
        while True:
            left = give_up - self._monotonic()
            answer = self.store.reserve(priority, max(0.0, left))
            if isinstance(answer, Granted):
                if answer.wait <= 0:
                    return
                self._sleep(answer.wait)
                # A 429 seen meanwhile dropped this slot from the queue: reserve again after the pause.
                if self.store.paused_for() <= 0:
                    return
                continue
            if math.isinf(answer.retry_in) or answer.retry_in > left:
                raise BudgetExhausted(method, path, self._why(priority, answer.paused))
            self._sleep(max(MIN_RETRY_SECONDS, answer.retry_in) * self._rng.uniform(1.0, 1.2))

    def rate_limited(self, retry_after: float | None) -> None:
        """FastPix answered 429: everyone waits, not just this caller."""
        seconds = budget.pause_seconds(retry_after)
        log.warning("FastPix answered 429: pausing every FastPix call for %.3g s", seconds)
        try:
            self.store.pause(seconds)
        except StoreUnavailable as exc:
            log.warning("FastPix request budget unavailable (%s): the 429 pauses only this call", exc)

    def _bound(self) -> float:
        until = _wait_until.get()
        if until is None:
            return self.max_wait
        return max(0.0, (until - self._clock.now()).total_seconds())

    def _why(self, priority: Priority, paused: bool) -> str:
        what = (
            "a pause after FastPix answered 429"
            if paused
            else f"the request budget (FASTPIX_MAX_RPS={self.max_rps:g})"
        )
        bound = "the action's deadline" if _wait_until.get() is not None else "the call deadline"
        return f"no {priority.name.lower()} slot free before {bound}: {what}"


def limiter_from_settings(
    fastpix: FastPixSettings, onair: OnairSettings, clock: Clock | None = None
) -> Limiter | None:
    """The shared limiter when FASTPIX_MAX_RPS is set: in Redis when the broker is Redis, else in a
    file in the data folder. None (no limiter, no cost) when unset."""
    if fastpix.max_rps is None:
        return None
    bucket = Bucket(fastpix.max_rps)
    store: BucketStore
    if onair.broker_url.startswith(("redis://", "rediss://", "unix://")):
        store = RedisBucketStore.from_url(onair.broker_url, bucket)
    else:
        store = FileBucketStore(Path(onair.data_dir).resolve() / "fastpix-budget", bucket)
    return Limiter(store, fastpix.max_rps, max_wait=fastpix.call_deadline, clock=clock)


def budgeted_client(
    fastpix: FastPixSettings | None = None, onair: OnairSettings | None = None
) -> FastPixClient:
    """A FastPix client for the CLI, under the same shared budget as the workers."""
    fastpix = fastpix or FastPixSettings()
    limiter = limiter_from_settings(fastpix, onair or OnairSettings())
    return FastPixClient.from_settings(fastpix, limiter=limiter)

"""The FastPix request budget as a value: a token bucket with reservations, priorities and pauses. Pure.

`FASTPIX_MAX_RPS` = r is a ceiling on requests in any one second, not an average: the bucket refills at
0.9 r and holds at most 0.05 r tokens (at least 1), so a full bucket emptied in a burst plus a second
of refill stays under r (for r >= 20; below that a second may carry one request more). The rest is a
margin for jitter: a thread woken 50 ms late on a loaded machine, or a server that reads a clump of
queued requests at once, moves requests from one second into the next, and a server counting a
one-second window (as FastPix's limit and the simulator's do) then sees more than was sent per second.

A caller *reserves* a token: the bucket may go into debt, and the answer is how long to wait for the
reserved slot. So each request costs one round trip to the shared store, and waiting callers leave in
order instead of polling in a herd. Priorities limit how deep a caller may queue:

    ACT     enable / disable / finish / PATCH / create / delete   any depth (bounded by its own deadline)
    READ    GET a stream, list streams                             at most READ_QUEUE_SECONDS of debt
    SAMPLE  viewer counts                                          only when a token is free now

so when acts queue up, reads wait for the queue to shrink and samples wait for it to empty: acts go
before reads, reads before samples. A refused reservation changes nothing and says when to ask again.

A 429 pauses everyone: `pause` empties the bucket until the pause ends (never shortening a longer
pause already in force) and moves the queue behind it. Holders of slots that fell inside the pause
check it when they wake (`Limiter` in worker.service.budget) and reserve again; the slots they leave
stay counted, so the second after a pause is never over-booked.

Times are seconds on one clock shared by every caller (the store's); only differences matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

REFILL_SHARE = 0.9
BURST_SHARE = 0.05
READ_QUEUE_SECONDS = 1.0
# A scheduled action reads the stream, then acts.
CALLS_PER_ACTION = 2
# The dispatcher keeps at most this many seconds of the budget claimed and unfinished.
IN_FLIGHT_SECONDS = 5.0
# A 429 without Retry-After pauses everyone this long; a Retry-After is honoured up to MAX_PAUSE.
DEFAULT_PAUSE_SECONDS = 1.0
MAX_PAUSE_SECONDS = 300.0


class Priority(IntEnum):
    ACT = 0
    READ = 1
    SAMPLE = 2


def priority_of(method: str, path: str) -> Priority:
    if method.upper() != "GET":
        return Priority.ACT
    return Priority.SAMPLE if path.rstrip("/").endswith("/viewer-count") else Priority.READ


def queue_limit(priority: Priority) -> float:
    """The deepest debt (seconds of waiting) a caller of this priority may queue behind."""
    return {Priority.ACT: math.inf, Priority.READ: READ_QUEUE_SECONDS, Priority.SAMPLE: 0.0}[priority]


@dataclass(frozen=True)
class Bucket:
    max_rps: float

    def __post_init__(self) -> None:
        if not (self.max_rps > 0 and math.isfinite(self.max_rps)):
            raise ValueError(f"a request budget needs a positive requests-per-second, got {self.max_rps}")

    @property
    def rate(self) -> float:
        return self.max_rps * REFILL_SHARE

    @property
    def capacity(self) -> float:
        return max(1.0, self.max_rps * BURST_SHARE)


@dataclass(frozen=True)
class State:
    """`tokens` (negative = debt) as of instant `at`; nobody may call before `paused_until`."""

    tokens: float
    at: float
    paused_until: float = 0.0

    @classmethod
    def full(cls, bucket: Bucket, now: float) -> State:
        return cls(bucket.capacity, now)


@dataclass(frozen=True)
class Granted:
    wait: float  # seconds from now until the reserved slot (0: go now)


@dataclass(frozen=True)
class Refused:
    # Seconds from now until a caller of this priority could reserve; inf: not before its deadline.
    retry_in: float
    paused: bool


def level(bucket: Bucket, state: State, now: float) -> tuple[float, float]:
    """(tokens, as of instant): refilled up to `now`, or frozen until a pause ends."""
    at = max(now, state.at)
    return min(bucket.capacity, state.tokens + bucket.rate * (at - state.at)), at


def reserve(
    bucket: Bucket, state: State, now: float, priority: Priority, max_wait: float
) -> tuple[State, Granted | Refused]:
    """Reserve one request slot no later than `max_wait` seconds from now, if this priority may queue."""
    tokens, at = level(bucket, state, now)
    wait = (at - now) + max(0.0, 1.0 - tokens) / bucket.rate
    paused = state.paused_until > now
    limit = queue_limit(priority)
    if wait > max_wait:
        return state, Refused(math.inf, paused)
    if wait > limit:
        return state, Refused(wait - limit, paused)
    # Taking from a not-yet-refilled bucket leaves debt: the next caller's wait includes this one's.
    return State(tokens - 1.0, at, state.paused_until), Granted(wait)


def claims_per_tick(max_rps: float | None, ceiling: int, in_flight: int = 0) -> int:
    """How many actions the dispatcher may claim now: enough to keep IN_FLIGHT_SECONDS of the budget
    claimed and unfinished (each action is a read and an act), whatever the ticks' pace. Claiming more
    only queues leases in the workers, where they expire (and run twice) when the machine serves less
    than the budget; unclaimed, a backlog waits in the ledger, where `onair doctor` shows it."""
    if max_rps is None:
        return ceiling
    held = max(1, math.ceil(Bucket(max_rps).rate * IN_FLIGHT_SECONDS / CALLS_PER_ACTION))
    return max(0, min(ceiling, held - in_flight))


def pause_seconds(retry_after: float | None) -> float:
    """How long a 429 stops everyone: the server's Retry-After (bounded), else a default."""
    if retry_after is None or not retry_after > 0 or not math.isfinite(retry_after):
        return DEFAULT_PAUSE_SECONDS
    return min(retry_after, MAX_PAUSE_SECONDS)


def pause(bucket: Bucket, state: State, now: float, seconds: float) -> State:
    """Nobody calls for `seconds`. The bucket starts empty after that (a burst would trip the limit
    again), and the queue reserved so far is laid after the pause: a holder whose slot fell inside the
    pause reserves again, behind it; one whose slot is later keeps its slot, still counted."""
    until = now + seconds
    if until <= state.paused_until:
        return state
    tokens, _ = level(bucket, state, now)
    return State(min(tokens, 0.0), until, until)

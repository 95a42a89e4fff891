"""Where the shared FastPix request bucket lives: Redis in production, a locked file on the embedded
backend. Both run worker.domain.budget's rules atomically, against one clock for every process.

- Redis (`ONAIR_BROKER_URL` is a redis:// URL): one hash, changed by a Lua script that mirrors
  `reserve` and `pause` (a script runs atomically; the clock is Redis's own TIME, so the workers'
  clocks need not agree). One round trip per reservation.
- Embedded (SQLite + the folder broker, so one machine by construction): a 24-byte file beside the
  broker folder, read and written under an exclusive `flock`. Not the database: a write per FastPix
  request would queue behind the ledger's BEGIN IMMEDIATE transactions (a planner tick holds SQLite's
  write lock for ~100 ms), and the bucket needs no durability: lost, it starts full.
"""

from __future__ import annotations

import fcntl
import math
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import redis

from worker.domain import budget
from worker.domain.budget import Bucket, Granted, Priority, Refused, State

T = TypeVar("T")


class StoreUnavailable(Exception):
    """The shared bucket could not be read or written (Redis down, file not writable)."""


class BucketStore(Protocol):
    def reserve(self, priority: Priority, max_wait: float) -> Granted | Refused: ...

    def pause(self, seconds: float) -> None: ...

    def paused_for(self) -> float:
        """Seconds until a pause in force ends (0 when none)."""
        ...


class FileBucketStore:
    _FORMAT = "<ddd"  # tokens, at, paused_until

    def __init__(self, path: Path, bucket: Bucket, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.bucket = bucket
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)

    def reserve(self, priority: Priority, max_wait: float) -> Granted | Refused:
        def change(state: State, now: float) -> tuple[State, Granted | Refused]:
            return budget.reserve(self.bucket, state, now, priority, max_wait)

        return self._locked(change)

    def pause(self, seconds: float) -> None:
        self._locked(lambda state, now: (budget.pause(self.bucket, state, now, seconds), None))

    def paused_for(self) -> float:
        return self._locked(lambda state, now: (state, max(0.0, state.paused_until - now)))

    def _locked(self, change: Callable[[State, float], tuple[State, T]]) -> T:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreUnavailable(f"{self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = self._clock()
            raw = os.pread(fd, struct.calcsize(self._FORMAT), 0)
            if len(raw) == struct.calcsize(self._FORMAT):
                state = State(*struct.unpack(self._FORMAT, raw))
            else:  # new, or torn by a crash mid-write: a full bucket is the safe start
                state = State.full(self.bucket, now)
            new, answer = change(state, now)
            if new != state:
                os.pwrite(fd, struct.pack(self._FORMAT, new.tokens, new.at, new.paused_until), 0)
            return answer
        finally:
            os.close(fd)  # also drops the lock


# KEYS[1] the bucket hash. ARGV: op ("reserve" | "pause" | "paused"), rate, capacity, then for reserve
# the queue limit (-1: none) and max wait (-1: none), for pause the seconds; last, optional, `now`
# (tests pin it; otherwise Redis's TIME). Numbers go back as strings: Redis truncates Lua numbers.
_SCRIPT = """
local op, rate, capacity = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now
if ARGV[6] and ARGV[6] ~= '' then now = tonumber(ARGV[6]) else
  local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local h = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'paused')
local tokens, at, paused = tonumber(h[1]), tonumber(h[2]), tonumber(h[3]) or 0
if tokens == nil or at == nil then tokens, at = capacity, now end
local ttl = 3600
if op == 'paused' then return tostring(math.max(0, paused - now)) end
local from = math.max(now, at)
local level = math.min(capacity, tokens + rate * (from - at))
if op == 'pause' then
  local untill = now + tonumber(ARGV[4])
  if untill > paused then
    redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(level, 0)), 'at', tostring(untill),
      'paused', tostring(untill))
    redis.call('EXPIRE', KEYS[1], ttl)
  end
  return '0'
end
local wait = (from - now) + math.max(0, 1 - level) / rate
local limit, max_wait = tonumber(ARGV[4]), tonumber(ARGV[5])
local is_paused = '0'
if paused > now then is_paused = '1' end
if max_wait >= 0 and wait > max_wait then return {'refused', 'inf', is_paused} end
if limit >= 0 and wait > limit then return {'refused', tostring(wait - limit), is_paused} end
redis.call('HSET', KEYS[1], 'tokens', tostring(level - 1), 'at', tostring(from), 'paused', tostring(paused))
redis.call('EXPIRE', KEYS[1], ttl)
return {'granted', tostring(wait), is_paused}
"""

KEY = "onair:fastpix-budget"


class RedisBucketStore:
    def __init__(self, client: redis.Redis, bucket: Bucket, *, key: str = KEY) -> None:
        self.bucket = bucket
        self.key = key
        self._script = client.register_script(_SCRIPT)
        # Tests pin the store's clock; production uses Redis's TIME.
        self.now: Callable[[], float] | None = None

    @classmethod
    def from_url(cls, url: str, bucket: Bucket) -> RedisBucketStore:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), bucket)

    def _run(self, op: str, *args: float) -> object:
        argv: list[str] = [op, repr(self.bucket.rate), repr(self.bucket.capacity)]
        argv += [repr(a) for a in args]
        while len(argv) < 5:
            argv.append("-1")
        argv.append("" if self.now is None else repr(self.now()))
        try:
            return self._script(keys=[self.key], args=argv)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis: {type(exc).__name__}") from exc

    def reserve(self, priority: Priority, max_wait: float) -> Granted | Refused:
        limit = budget.queue_limit(priority)
        answer = self._run("reserve", _finite_or_none(limit), _finite_or_none(max_wait))
        assert isinstance(answer, list)
        verdict, seconds, paused = (_text(part) for part in answer)
        if verdict == "granted":
            return Granted(float(seconds))
        return Refused(float(seconds), paused == "1")

    def pause(self, seconds: float) -> None:
        self._run("pause", seconds)

    def paused_for(self) -> float:
        return float(_text(self._run("paused")))


def _finite_or_none(seconds: float) -> float:
    return -1.0 if math.isinf(seconds) else seconds


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

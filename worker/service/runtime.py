"""One process's wiring: settings, database engine, FastPix client, clock and identity.

Built lazily once per process (and again after a fork), so Celery tasks stay thin: they take ids and
ask the runtime for what they need.
"""

from __future__ import annotations

import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from sqlalchemy import Engine

from worker.clock import Clock, SystemClock
from worker.config import FastPixSettings, OnairSettings, fastpix_settings, onair_settings
from worker.fastpix.client import FastPixClient
from worker.service import budget
from worker.service.calls import record_call
from worker.service.reads import ReadSchedule
from worker.store.db import make_engine

DB_POOL_SIZE = 8
DB_POOL_OVERFLOW = 4


def engine_for(settings: OnairSettings) -> Engine:
    """The database engine of one process, sized for its threads."""
    url = settings.database_url
    if url.startswith("sqlite"):
        return make_engine(url)
    # Connections are held only for the short take-over and record transactions of a batch, the
    # dispatcher tick and the watchdog, never across an HTTP call: a small pool serves 32 threads.
    # A pool per thread (48 with the old sizing) let two workers and a planner exhaust
    # PostgreSQL's default 100 connections under a burst, and the dispatcher then failed to connect.
    return make_engine(url, pool_size=DB_POOL_SIZE, max_overflow=DB_POOL_OVERFLOW)


# Viewer-count calls of one round in parallel: a slow stream does not hold the others' samples back.
VIEWER_THREADS = 4


class Runtime:
    """`engine`: the database this runtime works on; by default one built from the settings (the
    caller that passes its own engine disposes of it)."""

    def __init__(
        self,
        settings: OnairSettings,
        fastpix: FastPixSettings,
        clock: Clock | None = None,
        *,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.fastpix = fastpix
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.engine: Engine = engine if engine is not None else engine_for(settings)

    @cached_property
    def client(self) -> FastPixClient:
        limiter = budget.limiter_from_settings(self.fastpix, self.settings, self.clock)
        return FastPixClient.from_settings(
            self.fastpix, on_call=record_call, clock=self.clock, limiter=limiter
        )

    @cached_property
    def action_pool(self) -> ThreadPoolExecutor:
        """Threads that run actions: each waits on HTTP and on its due instant, not on the CPU."""
        return ThreadPoolExecutor(self.settings.worker_concurrency, thread_name_prefix="onair-action")

    @cached_property
    def read_schedule(self) -> ReadSchedule:
        """The state reads this process's batches have planned (worker.service.reads)."""
        return ReadSchedule()

    @cached_property
    def viewer_pool(self) -> ThreadPoolExecutor:
        """Threads that read viewer counts, kept between rounds with their keep-alive connections."""
        return ThreadPoolExecutor(VIEWER_THREADS, thread_name_prefix="onair-viewers")

    @cached_property
    def identity(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"


_lock = threading.Lock()
_runtime: Runtime | None = None
_pid: int | None = None


def runtime() -> Runtime:
    """This process's runtime (rebuilt in a forked child, which must not share sockets)."""
    global _runtime, _pid
    with _lock:
        if _runtime is None or _pid != os.getpid():
            _runtime = Runtime(settings=onair_settings(), fastpix=fastpix_settings())
            _pid = os.getpid()
        return _runtime

"""Real processes for end-to-end and reliability tests: the scheduler (Celery worker and beat, or
`onair run`) as subprocesses, with their logs kept for the failure message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

T = TypeVar("T")

BIN = Path(sys.executable).parent


def onair_bin() -> str:
    return str(BIN / "onair")


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if not self.popen or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def scheduler_env(
    *, database_url: str, data_dir: Path, fastpix: Mapping[str, str], broker_url: str = "", **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONAIR_", "FASTPIX_"))}
    env.update(fastpix)
    env.update(
        {
            "ONAIR_DATABASE_URL": database_url,
            "ONAIR_BROKER_URL": broker_url,
            "ONAIR_DATA_DIR": str(data_dir),
            "ONAIR_TICK_SECONDS": "1",
            "ONAIR_PLAN_SECONDS": "1",
            "ONAIR_LEASE_SECONDS": "15",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def celery_proc(role: str, env: dict[str, str], log_dir: Path, suffix: str = "") -> Proc:
    argv = [str(BIN / "celery"), "-A", "worker.celery_app", role, "-l", "info"]
    if role == "worker":
        # One worker serves every queue here: the tests need no separate planner process.
        argv += ["--pool", "threads", "--concurrency", "8", "-Q", "onair,onair.plan,onair.viewers"]
        argv += ["-n", f"onair{suffix}@%h"]
    else:
        argv += ["--schedule", str(log_dir / f"beat{suffix}-schedule")]
    return Proc(f"{role}{suffix}", argv, env, log_dir / f"{role}{suffix}.log")


@contextmanager
def running(*procs: Proc) -> Iterator[tuple[Proc, ...]]:
    for proc in procs:
        proc.start()
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, procs: tuple[Proc, ...] = (), every: float = 0.2
) -> T:
    """Poll `probe` until it returns something truthy; fail with the processes' logs otherwise."""
    give_up = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > give_up:
            logs = "\n".join(f"--- {p.name} (alive={p.alive()}) ---\n{p.tail()}" for p in procs)
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(every)


def migrate(database_url: str) -> None:
    from worker.store import migrate as store_migrate
    from worker.store.db import make_engine

    engine = make_engine(database_url)
    try:
        store_migrate.upgrade(engine)
    finally:
        engine.dispose()


def onair_run_proc(env: dict[str, str], log_dir: Path, suffix: str = "") -> Proc:
    """`onair run`: worker and beat under onair's own supervisor (what users run)."""
    return Proc(f"onair-run{suffix}", [onair_bin(), "run"], env, log_dir / f"onair-run{suffix}.log")


def last_tick(engine: sa.Engine) -> datetime | None:
    """When a dispatcher tick last ran (beat sent it and a worker ran it), from scheduler_state."""
    value = scalar(engine, "SELECT value FROM scheduler_state WHERE key = 'last_tick_at'")
    return datetime.fromisoformat(str(value)) if value else None


def wait_ticking(
    engine: sa.Engine, procs: tuple[Proc, ...], *, after: datetime | None = None, timeout: float = 60.0
) -> datetime:
    """Wait until the scheduler has ticked (after `after`, if given): beat and a worker are both up."""
    return wait_for(
        "the scheduler's first tick",
        lambda: t if (t := last_tick(engine)) and (after is None or t > after) else None,
        timeout,
        procs,
    )


def scalar(engine: sa.Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()

"""`onair run`: workers and beat for one machine, supervised, stopped cleanly on SIGTERM or Ctrl-C;
`onair worker`: the act workers alone (the Procfile's and docker-compose.yml's `worker`).

One threads-pool worker per CPU by default: a worker is one process with one GIL, and its threads spend
CPU in the ledger and HTTP code, so a single worker cannot use a second core (docs/performance.md).

Celery's own processes can die on broker trouble (notes.md §2: a Redis restart kills a 5.7 worker
holding ETA tasks); the ledger loses nothing when that happens, and this supervisor restarts them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

import typer

from worker.config import OnairSettings
from worker.queues import PLAN_QUEUE, QUEUE, VIEWERS_QUEUE

PLANNER_NICE = 10
PLANNER_THREADS = 3
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# How long the children have, together, to stop after SIGTERM before they are killed.
STOP_SECONDS = 15.0
# glibc's malloc arenas per process (unless the environment says otherwise). Its default, 8 per core,
# gives each of a worker's 64 threads an arena of its own as it first allocates, and each keeps its
# high-water mark: a busy night's RSS grew for hours, one arena at a time (docs/performance.md).
MALLOC_ARENAS = "2"


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)
    # Added to the OS scheduling niceness: work that can wait gives way to work that is due now.
    nice: int = 0

    def _prepare(self) -> None:
        """In the child, before it runs: it gets SIGTERM if the supervisor dies (even by SIGKILL), so no
        worker outlives it unsupervised; then its niceness."""
        if sys.platform == "linux":
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if self.nice:
            os.nice(self.nice)

    def start(self) -> None:
        env = {"MALLOC_ARENA_MAX": MALLOC_ARENAS, **(self.env or os.environ)}
        self.proc = subprocess.Popen(self.argv, env=env, preexec_fn=self._prepare)
        self.started_at = time.monotonic()


def celery_argv(
    role: str, concurrency: int, loglevel: str, node: str = "onair-0@%h", queue: str = QUEUE
) -> list[str]:
    base = [sys.executable, "-m", "celery", "-A", "worker.celery_app", role, "-l", loglevel]
    if role == "worker":
        return [*base, "--pool", "threads", "--concurrency", str(concurrency), "-Q", queue, "-n", node]
    return base


def supervise(children: list[Child], stop_after: float | None = None) -> int:
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    for child in children:
        child.start()
    deadline = None if stop_after is None else time.monotonic() + stop_after
    while not stopping and (deadline is None or time.monotonic() < deadline):
        for child in children:
            assert child.proc is not None
            code = child.proc.poll()
            if code is None:
                continue
            # Back off a little if it keeps dying at once, so a broken config does not spin a core.
            quick = time.monotonic() - child.started_at < 5
            typer.echo(f"onair run: {child.name} exited with {code}; restarting", err=True)
            time.sleep(2 if quick else 0.2)
            child.restarts += 1
            child.start()
        time.sleep(0.2)
    for child in children:
        if child.proc and child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    # One deadline for all: a worker's warm shutdown waits for a batch holding until its instant, and
    # waiting for each child in turn made a Ctrl-C take up to a minute.
    give_up = time.monotonic() + STOP_SECONDS
    for child in children:
        if child.proc:
            try:
                child.proc.wait(timeout=max(0.0, give_up - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
    return 0


def act_workers(count: int, concurrency: int, loglevel: str) -> list[Child]:
    """`count` threads-pool workers that execute actions, with unique node names; only the first
    serves the metrics port (the figures come from the shared database, and the others could not bind
    it)."""
    children = []
    for index in range(count):
        argv = celery_argv("worker", concurrency, loglevel, node=f"onair-{index}@%h")
        children.append(Child(f"worker {index}", argv, env=None if index == 0 else _without_metrics()))
    return children


def _without_metrics() -> dict[str, str]:
    """The environment of a child that must not serve the metrics port (the first act worker does)."""
    return {**os.environ, "ONAIR_METRICS_PORT": "0"}


def worker_children(count: int, concurrency: int, loglevel: str) -> list[Child]:
    """The act workers and one worker that plans."""
    # Three threads: a long stream sync (one page call per 50 streams) and a round of viewer samples
    # (one at a time per process) do not hold a plan tick back.
    planner = celery_argv(
        "worker", PLANNER_THREADS, loglevel, node="onair-planner@%h", queue=f"{PLAN_QUEUE},{VIEWERS_QUEUE}"
    )
    # Niced: a planner tick is CPU work that can wait a few ms; a call due now cannot.
    return [
        *act_workers(count, concurrency, loglevel),
        Child("planner", planner, env=_without_metrics(), nice=PLANNER_NICE),
    ]


def _checked_settings() -> tuple[OnairSettings, str]:
    """The settings and the database's URL as shown, once its schema is known to be current: a bad
    setting or an old schema is one `error:` line here, not a crash loop of children."""
    from worker.cli.timeline import read_settings
    from worker.service.database import ensure_schema_current, make_engine

    settings = read_settings()
    engine = make_engine(settings.database_url)
    try:
        ensure_schema_current(engine)
    except Exception as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    return settings, engine.url.render_as_string()


WORKERS_OPTION = typer.Option(
    None, "--workers", min=1, help="Worker processes (default: the number of CPUs)."
)
CONCURRENCY_OPTION = typer.Option(None, help="Threads per worker (default ONAIR_WORKER_CONCURRENCY).")
LOGLEVEL_OPTION = typer.Option("info", "--log-level", "-l", help="Celery log level.")


def worker(
    concurrency: int = CONCURRENCY_OPTION, loglevel: str = LOGLEVEL_OPTION, workers: int = WORKERS_OPTION
) -> None:
    """Run the workers that act (no planner, no beat): one Celery worker per CPU, restarted if they die."""
    settings, _ = _checked_settings()
    count = workers or os.cpu_count() or 1
    typer.echo(f"onair worker: {count} act workers; Ctrl-C stops", err=True)
    raise typer.Exit(supervise(act_workers(count, concurrency or settings.worker_concurrency, loglevel)))


def run(
    concurrency: int = CONCURRENCY_OPTION,
    loglevel: str = LOGLEVEL_OPTION,
    workers: int = WORKERS_OPTION,
    no_beat: bool = typer.Option(False, "--no-beat", help="Run only the workers (beat runs elsewhere)."),
) -> None:
    """Run the scheduler on this machine: Celery workers and beat, restarted if they die."""
    settings, database = _checked_settings()
    children = worker_children(
        workers or os.cpu_count() or 1, concurrency or settings.worker_concurrency, loglevel
    )
    if not no_beat:
        children.append(Child("beat", celery_argv("beat", 0, loglevel)))
    broker = "embedded (no server)" if not settings.broker_url else "configured broker"
    typer.echo(f"onair run: database {database}, broker {broker}; Ctrl-C stops", err=True)
    raise typer.Exit(supervise(children))

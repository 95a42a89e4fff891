"""Shared pieces of the benchmarks: the two backends, the simulator subprocess, the scheduler and
baseline processes, and what /proc says about their CPU time and memory.

Every benchmark cleans up what it started (processes, the PostgreSQL database, the Redis db) in
`finally` blocks, and bounds its own waits.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis
import sqlalchemy as sa
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROCFILE = ROOT / "Procfile"
RESULTS = Path(__file__).resolve().parent / "results"
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# A Redis db number of its own, flushed before and after: never the tests' db 0.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
TOKEN_ID, SECRET = "bench-token", "bench-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # `timeout` and CI send SIGTERM: turn it into an exception so every `finally` stops its processes
    # and drops its database instead of leaving them behind.
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _stop_on_sigterm)


def machine() -> str:
    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return f"nproc {os.cpu_count()}, {mem_kb / 1024 / 1024:.1f} GiB RAM, CPU {model}, load {loadavg()}"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- backends -------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    database_url: str
    broker_url: str  # "" = the embedded folder broker


@contextmanager
def backend(name: str, workdir: Path) -> Iterator[Backend]:
    """A fresh database (and broker) for one run, migrated; dropped / flushed afterwards."""
    from worker.store import migrate
    from worker.store.db import make_engine

    if name == "embedded":
        found = Backend(name, f"sqlite:///{workdir}/onair.db", "")
        cleanup: Callable[[], None] = lambda: None  # noqa: E731 - the workdir goes with the run
    elif name == "postgres":
        db = f"onair_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{db}"'))
        url = sa.engine.make_url(PG_ADMIN).set(database=db).render_as_string(hide_password=False)
        redis.Redis.from_url(REDIS_URL).flushdb()
        found = Backend(name, url, REDIS_URL)

        def cleanup() -> None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            admin.dispose()
            redis.Redis.from_url(REDIS_URL).flushdb()
    else:
        raise ValueError(f"unknown backend {name!r}: embedded or postgres")
    try:
        engine = make_engine(found.database_url)
        migrate.upgrade(engine)
        engine.dispose()
        yield found
    finally:
        cleanup()


def database_size(engine: sa.Engine) -> int:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
    path = Path(str(engine.url.database))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


# --- processes ------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    cwd: Path = ROOT

    def start(self) -> Proc:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextmanager
def running(*procs: Proc) -> Iterator[tuple[Proc, ...]]:
    try:
        for proc in procs:
            proc.start()
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def wait_for(
    what: str, probe: Callable[[], object], timeout: float, procs: Sequence[Proc] = (), every: float = 0.1
) -> None:
    give_up = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > give_up:
            logs = "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in procs)
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(every)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONAIR_", "FASTPIX_"))}
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


@dataclass(frozen=True)
class Shape:
    """The act workers of one side: how many processes, how many threads each."""

    processes: int
    threads: int

    def __str__(self) -> str:
        return f"{self.processes}x{self.threads}"


def procfile_argv(role: str, env: dict[str, str]) -> list[str]:
    """The Procfile's command line for `role`, as written (`${VAR:-default}` expanded from `env`)."""
    lines = dict(line.split(": ", 1) for line in PROCFILE.read_text().splitlines() if ": " in line)

    def expand(match: re.Match[str]) -> str:
        return env.get(match.group(1)) or match.group(2)

    return shlex.split(re.sub(r"\$\{(\w+):-([^}]*)\}", expand, lines[role]))


def scheduler_env(be: Backend, sim: Simulator, workdir: Path, **settings: str) -> dict[str, str]:
    return base_env(
        ONAIR_DATABASE_URL=be.database_url,
        ONAIR_BROKER_URL=be.broker_url,
        ONAIR_DATA_DIR=str(workdir / "data"),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **sim.env,
        **settings,
    )


def scheduler_procs(be: Backend, sim: Simulator, workdir: Path, **settings: str) -> list[Proc]:
    """The scheduler's processes as shipped: `onair run` on the embedded default (a supervisor, one act
    worker per CPU, the niced planner and beat); the Procfile's `worker`, `planner` and `beat` lines on
    PostgreSQL + Redis. Only the log level is lowered to warning on both (info logs every message)."""
    env = scheduler_env(be, sim, workdir, **settings)
    if be.name == "embedded":
        argv = [str(BIN / "onair"), "run", "--log-level", "warning"]
        return [Proc("onair-run", argv, env, workdir / "onair-run.log", cwd=workdir)]
    procs = []
    for role in ("worker", "planner", "beat"):
        argv = _quiet(procfile_argv(role, env))
        # Beat writes its schedule file in its working directory: the run's, not the checkout.
        procs.append(Proc(role, argv, env, workdir / f"{role}.log", cwd=workdir))
    return procs


def _quiet(argv: list[str]) -> list[str]:
    for flag in ("-l", "--log-level"):
        if flag in argv:
            argv = list(argv)
            argv[argv.index(flag) + 1] = "warning"
    return argv


def act_shape(be: Backend, **settings: str) -> Shape:
    """The act workers `scheduler_procs` starts (the planner, beat and supervisor come on top): `onair
    run` on the embedded default, the Procfile's `worker` (`onair worker`) on PostgreSQL + Redis; both
    start one per CPU (or `--workers`) of ONAIR_WORKER_CONCURRENCY threads (or `--concurrency`)."""
    from worker.config import OnairSettings

    env = base_env(**settings)
    argv = [] if be.name == "embedded" else procfile_argv("worker", env)

    def option(name: str, default: int) -> int:
        return int(argv[argv.index(name) + 1]) if name in argv else default

    threads = int(env.get("ONAIR_WORKER_CONCURRENCY") or OnairSettings().worker_concurrency)
    return Shape(option("--workers", os.cpu_count() or 1), option("--concurrency", threads))


def baseline_procs(broker_url: str, sim: Simulator, workdir: Path, shape: Shape) -> list[Proc]:
    """The baseline with the same act workers as onair: `shape.processes` threads-pool workers of
    `shape.threads` threads each, on `broker_url` (Redis), or the folder broker if it is ""."""
    env = base_env(
        BASELINE_BROKER_URL=broker_url,
        BASELINE_FOLDER=str(workdir / "baseline-broker"),
        **sim.env,
    )
    procs = []
    for index in range(shape.processes):
        argv = [str(BIN / "celery"), "-A", "benchmarks.baseline", "worker", "-l", "warning"]
        argv += ["--pool", "threads", "--concurrency", str(shape.threads), "-Q", "baseline"]
        argv += ["-n", f"baseline-{index}@%h"]
        ready = {"BASELINE_READY": str(workdir / "baseline-ready"), "BASELINE_NAME": f"baseline-{index}"}
        procs.append(Proc(f"baseline-{index}", argv, {**env, **ready}, workdir / f"baseline-{index}.log"))
    return procs


def baseline_sender(broker_url: str, workdir: Path) -> Celery:
    from benchmarks.baseline import make_app

    return make_app(broker_url, str(workdir / "baseline-broker"))


def warm_up_baseline(sim: Simulator, sender: Celery, stream: str, procs: Sequence[Proc]) -> None:
    """Wait until every baseline worker has joined, then send one task and wait for its call: the
    workers are then up and consuming."""
    from benchmarks.baseline import TASK

    ready = [Path(p.env["BASELINE_READY"]) / p.name for p in procs]
    wait_for("every baseline worker", lambda: all(r.exists() for r in ready), 60, procs, every=0.2)
    since = sim.last_seq()
    for _ in range(12):
        sender.send_task(TASK, (stream,))
        try:
            wait_for("the baseline's first task", lambda: sim.calls(since, endpoint="enable"), 5, procs)
            return
        except TimeoutError:
            continue
    raise TimeoutError("the baseline worker ran no task within 60 s")


def wait_ticking(engine: sa.Engine, procs: Sequence[Proc], timeout: float = 120) -> None:
    """Until the dispatcher and the planner have both ticked: the processes' start-up (imports, the
    stream sync, the first plan) is then over, and what follows is the steady state being measured
    (the baseline's side is warmed up too, by a first task)."""

    def ticked() -> bool:
        with engine.connect() as conn:
            sql = "SELECT count(*) FROM scheduler_state WHERE key IN ('last_tick_at', 'planner:last_ok')"
            return conn.execute(sa.text(sql)).scalar_one() == 2

    wait_for("the scheduler's first dispatcher and planner ticks", ticked, timeout, procs)


# --- /proc ----------------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_pids(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def tree_cpu(procs: Sequence[Proc]) -> float:
    return sum(cpu_seconds(pid) for p in procs if p.popen for pid in tree_pids(p.pid))


def peak_rss_mb(procs: Sequence[Proc]) -> dict[str, float]:
    """VmHWM of each process in the trees, keyed by role (worker / beat / supervisor)."""
    found: dict[str, float] = {}
    for p in procs:
        if not p.popen:
            continue
        for pid in tree_pids(p.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            hwm = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM")), 0)
            role = "beat" if b"beat" in cmd else "worker" if b"worker" in cmd else "supervisor"
            found[role] = max(found.get(role, 0.0), hwm / 1024)
    return found


# --- the simulator --------------------------------------------------------------------------------


@dataclass
class Simulator:
    proc: Proc
    root: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def calls(self, since: int = 0, endpoint: str | None = None) -> list[dict[str, object]]:
        params: dict[str, str | int] = {"since": since}
        if endpoint:
            params["endpoint"] = endpoint
        answer = httpx.get(f"{self.root}/_sim/calls", params=params, timeout=60)
        answer.raise_for_status()
        calls: list[dict[str, object]] = answer.json()["calls"]
        return calls

    def arrivals(self, since: int, endpoint: str) -> ArrivalLog:
        return ArrivalLog(self, since, endpoint)

    def last_seq(self) -> int:
        answer = httpx.get(f"{self.root}/_sim/calls", params={"since": 2**62}, timeout=10)
        return int(answer.json()["last_seq"])

    def make_disabled_streams(self, count: int, threads: int = 8) -> list[str]:
        from worker.fastpix.client import FastPixClient

        def make(_: int) -> str:
            with FastPixClient(self.base_url, TOKEN_ID, SECRET) as api:
                ids = []
                for _ in range(count // threads + 1):
                    stream_id = api.create_stream().stream_id
                    api.disable_stream(stream_id)
                    ids.append(stream_id)
                return ids

        with ThreadPoolExecutor(threads) as pool:
            made = [s for batch in pool.map(make, range(threads)) for s in batch]
        return made[:count]

    def disable(self, stream_ids: Sequence[str], threads: int = 8) -> None:
        from worker.fastpix.client import FastPixClient
        from worker.fastpix.errors import ApiError

        def run(part: Sequence[str]) -> None:
            with FastPixClient(self.base_url, TOKEN_ID, SECRET) as api:
                for stream_id in part:
                    with contextlib.suppress(ApiError):  # already disabled
                        api.disable_stream(stream_id)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, [stream_ids[i::threads] for i in range(threads)]))


class ArrivalLog:
    """The first arrival of `endpoint` per stream, read from the simulator's call log incrementally
    (asking for the whole log on every poll would load the simulator the benchmark is measuring)."""

    def __init__(self, sim: Simulator, since: int, endpoint: str) -> None:
        self.sim, self.since, self.endpoint = sim, since, endpoint
        self.first: dict[str, datetime] = {}

    def poll(self) -> dict[str, datetime]:
        for call in self.sim.calls(self.since, endpoint=self.endpoint):
            self.since = max(self.since, int(str(call["seq"])))
            self.first.setdefault(str(call["stream_id"]), arrival(call))
        return self.first


@contextmanager
def simulator(workdir: Path, flush_interval: float = 5.0) -> Iterator[Simulator]:
    port = free_port()
    env = base_env(FASTPIX_ACCESS_TOKEN_ID=TOKEN_ID, FASTPIX_SECRET_KEY=SECRET)
    argv = [str(BIN / "onair"), "simulator", "--port", str(port), "--connect-delay", "0"]
    # Its state is not needed after the run: write it rarely, so the writes do not slow the API down.
    argv += ["--state-file", str(workdir / "simulator.json"), "--flush-interval", str(flush_interval)]
    proc = Proc("simulator", argv, env, workdir / "simulator.log")
    root = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{root}/_sim/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    with running(proc):
        wait_for("the simulator", answers, 20, [proc])
        yield Simulator(
            proc,
            root,
            {
                "FASTPIX_API_URL": f"{root}/v1",
                "FASTPIX_ACCESS_TOKEN_ID": TOKEN_ID,
                "FASTPIX_SECRET_KEY": SECRET,
            },
        )


@contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"onair-bench-{prefix}-"))
    try:
        yield path
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(path, ignore_errors=True)


# --- figures --------------------------------------------------------------------------------------


def arrival(call: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(call["time"])).astimezone(UTC)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def lateness_summary(late_ms: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(late_ms),
        "p50_ms": round(statistics.median(late_ms), 2) if late_ms else float("nan"),
        "p99_ms": round(percentile(late_ms, 99), 2),
        "max_ms": round(max(late_ms), 2) if late_ms else float("nan"),
        "earliest_ms": round(min(late_ms), 2) if late_ms else float("nan"),
    }


def emit(title: str, row: dict[str, object], results: Path | None = None) -> None:
    """One line a human can read, then the same as JSON for tools (and appended to `results`)."""
    print(f"{title}: " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    line = json.dumps({"benchmark": title, "at": datetime.now(UTC).isoformat(timespec="seconds"), **row})
    print("JSON " + line, flush=True)
    if results is not None:
        with results.open("a") as out:
            out.write(line + "\n")


def results_file(benchmark: str, backend_name: str) -> Path:
    """benchmarks/results/<benchmark>-<backend>-<UTC timestamp>.jsonl, for this run's raw lines."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return RESULTS / f"{benchmark}-{backend_name}-{stamp}.jsonl"


def ratio(onair: object, baseline: object) -> float | None:
    """onair / baseline, None where either is missing or the baseline is zero."""
    if not isinstance(onair, int | float) or not isinstance(baseline, int | float) or not baseline:
        return None
    return round(onair / baseline, 2)


def backends_from_argv(argv: Sequence[str]) -> list[str]:
    names = [a for a in argv if a in ("embedded", "postgres")]
    return names or ["embedded", "postgres"]


def cpu_by_role(procs: Sequence[Proc]) -> dict[str, float]:
    """CPU seconds of every process in the trees so far, summed by role (worker / planner / beat /
    supervisor), for the figures' breakdown."""
    from benchmarks.soak_watch import sample_procs

    found: dict[str, float] = {}
    for sample in sample_procs(procs):
        role = "worker" if sample.role.startswith("worker") else sample.role
        found[role] = found.get(role, 0.0) + sample.cpu_s
    return found


def cpu_split(before: dict[str, float], after: dict[str, float], actions: int) -> dict[str, float]:
    """CPU seconds per 1,000 actions by role between two cpu_by_role readings."""
    return {
        role: round((cpu - before.get(role, 0.0)) * 1000 / max(actions, 1), 2)
        for role, cpu in sorted(after.items())
    }

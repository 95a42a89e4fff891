"""What the soak watches while the night runs and reads afterwards: CPU and RSS of every process (from
/proc), the database's rows and size, `onair doctor --json`, and the processes' logs (Celery's
`Task onair.plan[...] succeeded in 0.012s` lines time each planner and dispatcher tick; errors and
`database is locked`)."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from benchmarks.common import BIN, CLK_TCK, database_size, lateness_summary, tree_pids


class Running(Protocol):
    name: str

    @property
    def popen(self) -> subprocess.Popen[bytes] | None: ...


# --- /proc ----------------------------------------------------------------------------------------


def role_of(argv: Sequence[str], fallback: str) -> str:
    """A process's part: beat, the planner, a worker (by its node name when it has one), the supervisor
    (`onair run`, `onair worker`), else `fallback`."""
    if any(Path(arg).name == "onair" for arg in argv[:2]):
        return "supervisor"
    if "beat" in argv:
        return "beat"
    nodes = [value for flag, value in pairwise(argv) if flag == "-n" and "@" in value]
    if nodes:
        node = nodes[0].split("@")[0]
        return "planner" if "planner" in node else f"worker {node}"
    if "worker" in argv:
        return "worker"
    return fallback


@dataclass(frozen=True)
class ProcSample:
    at: datetime
    role: str
    pid: int
    cpu_s: float
    rss_mb: float


_REGION = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
# glibc puts each extra malloc arena (one per thread that allocated, up to 8 per core unless
# MALLOC_ARENA_MAX says otherwise) in an anonymous mapping aligned to its 64 MB maximum.
_ARENA_ALIGN = 64 << 20


def memory_map(pid: int) -> dict[str, float]:
    """Where a process's RSS lies (MB, from /proc/<pid>/smaps): the main malloc heap (`[heap]`), the
    thread arenas (and how many), other anonymous memory (Python's own pymalloc arenas, large mmapped
    blocks, thread stacks) and file-backed pages (code, libraries, SQLite's mmap)."""
    found = {"heap": 0.0, "thread_arenas": 0.0, "arenas": 0.0, "other_anon": 0.0, "files": 0.0}
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return found
    part = ""
    for line in lines:
        region = _REGION.match(line)
        if region:
            start, name = int(region[1], 16), region[4]
            if name == "[heap]":
                part = "heap"
            elif not name and start % _ARENA_ALIGN == 0 and region[3].startswith("rw"):
                part = "thread_arenas"
                found["arenas"] += 1
            elif not name:
                part = "other_anon"
            else:
                part = "files" if name.startswith("/") else ""
        elif line.startswith("Rss:") and part:
            found[part] += int(line.split()[1]) / 1024
    return {k: round(v, 1) for k, v in found.items()}


def sample_procs(procs: Iterable[Running]) -> list[ProcSample]:
    now = datetime.now(UTC)
    found = []
    for proc in procs:
        if proc.popen is None:
            continue
        for pid in tree_pids(proc.popen.pid):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                status = Path(f"/proc/{pid}/status").read_text()
                argv = [
                    a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                ]
            except OSError:
                continue
            if argv[:1] == ["nice"]:
                continue  # exec'ing into celery: the next sample sees it
            rss_kb = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS")), 0)
            cpu = (int(stat[11]) + int(stat[12])) / CLK_TCK
            role = role_of(argv, proc.name if pid == proc.popen.pid else f"{proc.name} child")
            found.append(ProcSample(now, role, pid, cpu, rss_kb / 1024))
    return found


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return float("nan")
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 3600


def process_figures(
    samples: Sequence[ProcSample], start: datetime, warm: datetime
) -> dict[str, dict[str, float | int]]:
    """Per role: CPU (% of one core) over the run and after warm-up, RSS at warm-up, at the end, its
    peak and its slope after warm-up (MB/h), and restarts (pids seen beyond the first)."""
    by_role: dict[str, list[ProcSample]] = {}
    for s in samples:
        by_role.setdefault(s.role, []).append(s)
    figures: dict[str, dict[str, float | int]] = {}
    for role, rows in sorted(by_role.items()):
        pids = sorted({r.pid for r in rows})
        # CPU: per pid from its first to its last sample, so a restarted process adds its own time.
        cpu_all = cpu_warm = 0.0
        for pid in pids:
            own = [r for r in rows if r.pid == pid]
            cpu_all += own[-1].cpu_s
            after = [r for r in own if r.at >= warm]
            if after:
                before = [r for r in own if r.at < warm]
                cpu_warm += after[-1].cpu_s - (before[-1].cpu_s if before else 0.0)
        last = rows[-1].at
        span_all = max(1e-9, (last - start).total_seconds())
        span_warm = max(1e-9, (last - warm).total_seconds())
        # RSS: the sum over the role's live pids at each instant (one pid per role, unless restarted).
        rss: dict[datetime, float] = {}
        for r in rows:
            rss[r.at] = rss.get(r.at, 0.0) + r.rss_mb
        series = sorted(rss.items())
        warm_series = [(t, v) for t, v in series if t >= warm]
        figures[role] = {
            "cpu_pct": round(100 * cpu_all / span_all, 1),
            "cpu_pct_after_warm_up": round(100 * cpu_warm / span_warm, 1) if warm_series else float("nan"),
            "rss_mb_at_warm_up": round(warm_series[0][1], 1) if warm_series else float("nan"),
            "rss_mb_end": round(series[-1][1], 1),
            "rss_mb_peak": round(max(v for _, v in series), 1),
            "rss_mb_per_h_after_warm_up": round(
                slope_per_hour([((t - warm).total_seconds(), v) for t, v in warm_series]), 1
            ),
            "pids": len(pids),
        }
    return figures


# --- the database ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbSample:
    at: datetime
    actions: int
    events: int
    bytes: int
    wal_bytes: int  # SQLite's -wal file; 0 on PostgreSQL


def sample_db(engine: sa.Engine) -> DbSample:
    with engine.connect() as conn:
        actions = int(conn.execute(sa.text("SELECT count(*) FROM actions")).scalar_one())
        events = int(conn.execute(sa.text("SELECT count(*) FROM action_events")).scalar_one())
    wal = 0
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        wal_path = path.with_name(path.name + "-wal")
        wal = wal_path.stat().st_size if wal_path.exists() else 0
    return DbSample(datetime.now(UTC), actions, events, database_size(engine), wal)


def growth_figures(samples: Sequence[DbSample], warm: datetime) -> dict[str, object]:
    """Growth per hour after warm-up (a least-squares slope) and the figures at the end."""
    if not samples:
        return {}
    after = [s for s in samples if s.at >= warm]

    def per_hour(value: str, scale: float = 1.0) -> float:
        return round(
            slope_per_hour([((s.at - warm).total_seconds(), getattr(s, value) / scale) for s in after]), 1
        )

    last = samples[-1]
    mb = 1024 * 1024
    return {
        "actions_end": last.actions,
        "action_events_end": last.events,
        "db_mb_end": round(last.bytes / mb, 1),
        "wal_mb_end": round(last.wal_bytes / mb, 1),
        "wal_mb_peak": round(max(s.wal_bytes for s in samples) / mb, 1),
        "actions_per_h": per_hour("actions"),
        "action_events_per_h": per_hour("events"),
        "db_mb_per_h": per_hour("bytes", mb),
    }


# --- onair doctor ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    at: datetime
    verdict: str  # ok | warning | failed | error
    detail: str


def run_doctor(env: dict[str, str]) -> Verdict:
    at = datetime.now(UTC)
    try:
        done = subprocess.run(
            [str(BIN / "onair"), "doctor", "--json"], env=env, capture_output=True, timeout=120, check=False
        )
        answer = json.loads(done.stdout)
    except (subprocess.TimeoutExpired, ValueError) as exc:
        return Verdict(at, "error", f"{type(exc).__name__}: {exc}"[:200])
    failed = [c for c in answer["checks"] if not c["ok"]]
    warned = [c for c in answer["checks"] if c["ok"] and c["warning"]]
    if failed:
        return Verdict(at, "failed", "; ".join(f"{c['check']}: {c['detail']}" for c in failed)[:300])
    if warned:
        return Verdict(at, "warning", "; ".join(f"{c['check']}: {c['detail']}" for c in warned)[:300])
    return Verdict(at, "ok", "")


def doctor_figures(verdicts: Sequence[Verdict]) -> dict[str, object]:
    counts = {v: sum(1 for x in verdicts if x.verdict == v) for v in ("ok", "warning", "failed", "error")}
    bad = [f"{x.at:%H:%M:%S} {x.verdict}: {x.detail}" for x in verdicts if x.verdict != "ok"]
    return {"runs": len(verdicts), **counts, "first_not_ok": bad[:4]}


# --- the logs -------------------------------------------------------------------------------------

_LINE = re.compile(r"^\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[^\]]*\] (?P<msg>.*)$")
_RECEIVED = re.compile(r"^Task (?P<task>onair\.\w+)\[(?P<id>[^\]]+)\] received")
_DONE = re.compile(r"^Task (?P<task>onair\.\w+)\[(?P<id>[^\]]+)\] (succeeded in (?P<secs>[0-9.e-]+)s|raised)")
_EXPIRED = re.compile(r"Discarding revoked task: (?P<task>onair\.\w+)\[(?P<id>[^\]]+)\]")
_ERROR = re.compile(r"(: (ERROR|CRITICAL)/|\b(ERROR|CRITICAL)\b)")


@dataclass
class TaskRun:
    task: str
    received: datetime | None = None
    end: datetime | None = None  # None: still running (or waiting for a thread) when the logs were read
    seconds: float | None = None  # Celery's own figure: from the start of the run to its end
    discarded: bool = False  # expired before a thread took it


@dataclass
class LogFigures:
    runs: dict[str, TaskRun] = field(default_factory=dict)
    expired: dict[str, int] = field(default_factory=dict)
    locked: int = 0
    error_lines: list[str] = field(default_factory=list)
    restarts: int = 0


def _local(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%d %H:%M:%S,%f").astimezone(UTC)


def read_logs(paths: Iterable[Path], until: datetime) -> LogFigures:
    """The logs' lines up to `until` (what the processes wrote while being stopped is not the night's)."""
    found = LogFigures()
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        at: datetime | None = None
        for line in text.splitlines():
            head = _LINE.match(line)
            if head:
                at = _local(head["ts"])
            if at is not None and at > until:
                continue
            if "database is locked" in line:
                found.locked += 1
            if "exited with" in line and "restarting" in line:
                found.restarts += 1
            if match := _EXPIRED.search(line):
                found.expired[match["task"]] = found.expired.get(match["task"], 0) + 1
                found.runs.setdefault(match["id"], TaskRun(match["task"])).discarded = True
            if head and (match := _RECEIVED.match(head["msg"])):
                found.runs.setdefault(match["id"], TaskRun(match["task"])).received = _local(head["ts"])
            elif head and (match := _DONE.match(head["msg"])):
                run = found.runs.setdefault(match["id"], TaskRun(match["task"]))
                run.end = _local(head["ts"])
                run.seconds = float(match["secs"]) if match["secs"] else None
            if _ERROR.search(line):
                found.error_lines.append(line[:300])
    return found


def tick_figures(runs: Iterable[TaskRun], task: str, until: datetime) -> dict[str, object]:
    """Durations of `task`'s runs, in ms. A planner run that lay wholly inside another one's found the
    planner's lease taken and did nothing: counted apart, not as a tick. A run still going at `until`
    counts with its age then (it is at least that long)."""
    mine = [r for r in runs if r.task == task and (r.received or r.end) and not r.discarded]
    spans = []
    for r in mine:
        ended = r.end or until
        began = ended.timestamp() - r.seconds if r.seconds is not None else (r.received or ended).timestamp()
        spans.append((began, ended.timestamp(), r.end is None))
    spans.sort()
    ticks, skipped = [], 0
    for i, (begin, end, _) in enumerate(spans):
        if task == "onair.plan" and any(
            j != i and b <= begin and end <= e and e - b > end - begin for j, (b, e, _) in enumerate(spans)
        ):
            skipped += 1
        else:
            ticks.append((end - begin) * 1000)
    summary = lateness_summary(ticks)
    summary.pop("earliest_ms", None)
    first = round((spans[0][1] - spans[0][0]) * 1000, 1) if spans else float("nan")
    unfinished = [round(e - b, 1) for b, e, running in spans if running]
    return {**summary, "first_ms": first, "skipped_inside_another": skipped, "unfinished_s": unfinished}


class Every:
    """Calls `work` every `seconds` on a thread of its own until stopped (the doctor, which takes a
    second or two, must not hold up the samples)."""

    def __init__(self, seconds: float, work: Callable[[], None]) -> None:
        self.seconds = seconds
        self.work = work
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Every:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=150)

    def _run(self) -> None:
        # A fixed cadence: a slow run (doctor on a loaded machine) does not push the next one back.
        due = time.monotonic()
        while True:
            due += self.seconds
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            self.work()

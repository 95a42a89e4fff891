"""Profiles of the benchmarks' processes with py-spy (installed in the venv: `pip install py-spy`):
`BENCH_PROFILE=DIR` makes `lateness`, `burst` and `idle_cpu` record every process of onair's side (and
its children) while the work runs, one collapsed-stacks file per process tree in DIR, and print where
the sampled time went.

    .venv/bin/python -m benchmarks.spy DIR/FILE.txt [--top 30] [--under FUNCTION]

Sampling is non-blocking (the processes are never paused), so a thread asleep in a plain
`time.sleep` is still sampled: SLEEPING names those frames, and the summaries leave them out.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from benchmarks.common import BIN

# Frames that are a thread asleep or blocked, not CPU work (py-spy's non-blocking mode samples them).
SLEEPING = (
    "Transport.drain_events (kombu/transport/virtual/base.py:1012)",
    "supervise (worker/cli/run.py:",
    "Condition.wait (threading.py",
    "Event.wait (threading.py",
    "_worker (concurrent/futures/thread.py:81)",
    "Timer.run (celery/utils/timer2.py",
    "Service.start (celery/beat.py",
    "select (selectors.py",
    "_wait_until (worker/service/executor.py",
    "wait (concurrent/futures/_base.py",
)


class HasPid(Protocol):
    name: str

    @property
    def pid(self) -> int: ...


@contextmanager
def profiled(procs: Sequence[HasPid], label: str, rate: int = 50) -> Iterator[None]:
    """Record `procs` (with their children) while the block runs, if BENCH_PROFILE names a folder."""
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    spies = []
    for proc in procs:
        out = Path(folder) / f"{label}-{proc.name}.txt"
        argv = [str(BIN / "py-spy"), "record", "--subprocesses", "--nonblocking", "-r", str(rate)]
        argv += ["-f", "raw", "-o", str(out), "-p", str(proc.pid)]
        spies.append((out, subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    try:
        yield
    finally:
        for _, spy in spies:
            spy.send_signal(signal.SIGINT)
        for out, spy in spies:
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
            if out.exists():
                print(f"  profile {out}:\n" + report(out, 15), flush=True)


def _stacks(path: Path) -> Iterator[tuple[list[str], int]]:
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if n.isdigit():
            frames = stack.split(";")
            if not any(s in frames[-1] for s in SLEEPING):
                yield frames, int(n)


# What a sample was doing, by the first of these frames found on its stack (in this order).
ACTIVITIES = (
    ("act: execute_batch", "execute_batch (worker/"),
    ("dispatcher tick", "dispatch_tick (worker/"),
    ("planner tick", "plan_tick (worker/"),
    ("stream sync", "sync_streams (worker/"),
    ("viewer samples", "sample_round (worker/"),
    ("signal watch", "_watch_signal (worker/"),
    ("watchdog and heartbeat", "Watchdog._run (worker/"),
    ("metrics server", "worker/service/metrics.py"),
    ("start-up: imports", "<frozen importlib"),
    ("beat", "celery/beat.py"),
    ("celery worker: broker and task plumbing", "celery/"),
    ("supervisor", "worker/cli/run.py"),
)


def activity(frames: Sequence[str]) -> str:
    for name, marker in ACTIVITIES:
        if any(marker in frame for frame in frames):
            return name
    return "other"


def report(path: Path, top: int = 30, under: str | None = None) -> str:
    """Self time of the leaf functions, and total time of onair's own functions, as shares of the
    samples that were not asleep (optionally only the stacks through `under`)."""
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    per_process: Counter[str] = Counter()
    activities: Counter[str] = Counter()
    total = 0
    for frames, n in _stacks(path):
        if under and not any(under in f for f in frames):
            continue
        total += n
        leaves[frames[-1]] += n
        activities[activity(frames)] += n
        per_process[next((f for f in reversed(frames) if f.startswith("process ")), "?")[:110]] += n
        for frame in set(frames):
            if "worker/" in frame or "benchmarks/" in frame:
                inclusive[frame] += n

    def share(n: int) -> str:
        return f"{100 * n / max(total, 1):5.1f}%"

    lines = [f"    {total} samples awake"]
    lines += [f"    process {share(n)} {p}" for p, n in per_process.most_common(8)]
    lines += [f"    activity {share(n)} {a}" for a, n in activities.most_common()]
    lines += [f"    self {share(n)} {f}" for f, n in leaves.most_common(top)]
    lines += [f"    total {share(n)} {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--under", default=None)
    args = parser.parse_args(argv)
    for path in args.files:
        print(f"{path}:\n{report(path, args.top, args.under)}")


if __name__ == "__main__":
    main()

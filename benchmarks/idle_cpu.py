"""Idle cost: the CPU every process of onair uses while nothing is due, as shipped (`onair run` on the
embedded default; the Procfile's worker, planner and beat on PostgreSQL + Redis), per process, as % of
one core, over `--seconds` after the start-up has settled. This is the part of the side-by-side
benchmarks' CPU that does not depend on the number of actions: dispatcher ticks, beat, the broker's
polling, heartbeats and watchdogs, the planner's ticks.

    .venv/bin/python -m benchmarks.idle_cpu [embedded] [postgres] [--seconds 60] [--settle 20]
                                            [--profile DIR]

With `--profile DIR`, `py-spy record --subprocesses` (the venv's py-spy) samples the same window and
writes the collapsed stacks to DIR, and the script prints the functions where the sampled CPU went.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import (
    BIN,
    backend,
    backends_from_argv,
    emit,
    loadavg,
    machine,
    results_file,
    running,
    scheduler_procs,
    simulator,
    wait_ticking,
    workspace,
)
from benchmarks.soak_watch import ProcSample, sample_procs
from benchmarks.spy import report


def per_role(before: Sequence[ProcSample], after: Sequence[ProcSample], seconds: float) -> dict[str, float]:
    """% of one core per role between two samples of the same processes."""
    start = {s.pid: s.cpu_s for s in before}
    used: dict[str, float] = {}
    for s in after:
        used[s.role] = used.get(s.role, 0.0) + s.cpu_s - start.get(s.pid, 0.0)
    return {role: round(100 * cpu / seconds, 2) for role, cpu in sorted(used.items())}


def run_one(name: str, seconds: float, settle: float, profile: Path | None, results: Path) -> None:
    from worker.store.db import make_engine

    with workspace(f"idle-{name}") as work, simulator(work) as sim, backend(name, work) as be:
        engine = make_engine(be.database_url)
        procs = scheduler_procs(be, sim, work)
        try:
            with running(*procs):
                wait_ticking(engine, procs)
                time.sleep(settle)
                spies = []
                if profile is not None:
                    profile.mkdir(parents=True, exist_ok=True)
                    for proc in procs:
                        out = profile / f"{name}-{proc.name}.txt"
                        argv = [str(shutil.which("py-spy", path=str(BIN)) or "py-spy"), "record"]
                        argv += ["--subprocesses", "--nonblocking", "-r", "100", "-f", "raw"]
                        argv += ["-d", str(int(seconds)), "-o", str(out), "-p", str(proc.pid)]
                        spies.append((out, subprocess.Popen(argv, stdout=subprocess.DEVNULL)))
                before = sample_procs(procs)
                time.sleep(seconds)
                after = sample_procs(procs)
                for _, spy in spies:
                    spy.wait(timeout=60)
        finally:
            engine.dispose()
        roles = per_role(before, after, seconds)
        emit(
            f"idle cpu {name}",
            {
                "seconds": seconds,
                "percent_of_a_core": roles,
                "total": round(sum(roles.values()), 2),
                "load": loadavg(),
            },
            results,
        )
        for out, _ in spies:
            if out.exists():
                print(f"  {out}:\n{report(out, 15)}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*", default=[])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    for name in backends_from_argv(args.backends):
        results = results_file("idle-cpu", name)
        run_one(name, args.seconds, args.settle, args.profile, results)
        print(f"raw lines: {results}", flush=True)


if __name__ == "__main__":
    main()

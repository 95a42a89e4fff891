"""Lateness: 1,000 disabled streams, each with an enable due within the same 10 seconds, registered
(plain SQL broadcasts, lead 0) while the scheduler is already running. Lateness is the simulator's
arrival time of the enable call minus its due time. Then the naive baseline (Celery eta=due, one PUT)
does the same on the same streams, disabled again.

    .venv/bin/python -m benchmarks.lateness [embedded] [postgres] [--streams N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from benchmarks.baseline import TASK
from benchmarks.common import (
    Proc,
    Simulator,
    backend,
    backends_from_argv,
    baseline_proc,
    baseline_sender,
    emit,
    lateness_summary,
    loadavg,
    machine,
    peak_rss_mb,
    running,
    scheduler_procs,
    simulator,
    tree_cpu,
    wait_for,
    wait_ticking,
    warm_up_baseline,
    workspace,
)

SPREAD = timedelta(seconds=10)
# The planner runs every 5 s and the dispatcher claims 2 s ahead: register this far before the first due.
REGISTER_AHEAD = timedelta(seconds=9)
RUN_LIMIT = 90.0


def due_times(count: int, first: datetime) -> list[datetime]:
    step = SPREAD / count
    return [first + i * step for i in range(count)]


def register_streams(engine: sa.Engine, stream_ids: Sequence[str]) -> None:
    from worker.store.models import Stream

    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Stream.__table__),  # type: ignore[arg-type]
            [
                {"stream_id": s, "name": s, "status": "disabled", "last_seen_at": now, "created_at": now}
                for s in stream_ids
            ],
        )


def register_broadcasts(engine: sa.Engine, plan: Sequence[tuple[str, datetime]]) -> None:
    from worker.store.models import Broadcast

    with engine.begin() as conn:
        conn.execute(
            sa.insert(Broadcast.__table__),  # type: ignore[arg-type]
            [
                {
                    "stream_id": s,
                    "starts_at": due,
                    "ends_at": due + timedelta(hours=1),
                    "lead_seconds": 0,
                    "title": "lateness benchmark",
                }
                for s, due in plan
            ],
        )


def collect(
    sim: Simulator, since: int, plan: Sequence[tuple[str, datetime]], procs: Sequence[Proc]
) -> dict[str, datetime]:
    streams = {s for s, _ in plan}
    last_due = max(d for _, d in plan)
    log = sim.arrivals(since, "enable")

    def all_arrived() -> bool:
        return datetime.now(UTC) >= last_due and streams <= log.poll().keys()

    try:
        wait_for("every enable call", all_arrived, RUN_LIMIT, procs, every=0.5)
    except TimeoutError:
        print(
            f"  warning: only {len(streams & log.poll().keys())} of {len(streams)} enables arrived",
            flush=True,
        )
    return {s: t for s, t in log.first.items() if s in streams}


def figures(plan: Sequence[tuple[str, datetime]], found: dict[str, datetime]) -> dict[str, object]:
    late = [(found[s] - due).total_seconds() * 1000 for s, due in plan if s in found]
    return {**lateness_summary(late), "missing": len(plan) - len(found)}


def run_onair(name: str, count: int) -> None:
    from worker.store.db import make_engine

    with workspace(f"lateness-{name}") as work, simulator(work) as sim, backend(name, work) as be:
        streams = sim.make_disabled_streams(count)
        engine = make_engine(be.database_url)
        register_streams(engine, streams)
        procs = scheduler_procs(be, sim, work)
        with running(*procs):
            wait_ticking(engine, procs)
            time.sleep(2)  # the worker's start-up planning and stream sync settle
            since, cpu0 = sim.last_seq(), tree_cpu(procs)
            first = datetime.now(UTC) + REGISTER_AHEAD
            plan = list(zip(streams, due_times(count, first), strict=True))
            register_broadcasts(engine, plan)
            found = collect(sim, since, plan, procs)
            cpu = tree_cpu(procs) - cpu0
            rss = peak_rss_mb(procs)
        engine.dispose()
        emit(
            f"lateness onair {name}",
            {
                **figures(plan, found),
                "cpu_s_per_1000": round(cpu * 1000 / count, 2),
                "rss_mb": rss,
                "load": loadavg(),
            },
        )

        sim.disable(streams)
        base = baseline_proc(be, sim, work)
        with running(base):
            sender = baseline_sender(be, work)
            warm_up_baseline(sim, sender, streams[0], [base])
            since, cpu0 = sim.last_seq(), tree_cpu([base])
            first = datetime.now(UTC) + timedelta(seconds=3)
            plan = list(zip(streams, due_times(count, first), strict=True))
            for stream, due in plan:
                sender.send_task(TASK, (stream,), eta=due)
            found = collect(sim, since, plan, [base])
            cpu = tree_cpu([base]) - cpu0
            rss = peak_rss_mb([base])
        emit(
            f"lateness baseline {name}",
            {
                **figures(plan, found),
                "cpu_s_per_1000": round(cpu * 1000 / count, 2),
                "rss_mb": rss,
                "load": loadavg(),
            },
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*", default=[])
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    for name in backends_from_argv(args.backends):
        run_onair(name, args.streams)


if __name__ == "__main__":
    main()

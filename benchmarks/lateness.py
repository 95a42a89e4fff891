"""Lateness, side by side: 1,000 disabled streams, each with an enable due within the same 10 seconds,
registered while the scheduler is already running (plain SQL broadcasts, lead 0); then the naive
baseline (Celery eta=due, one PUT) on the same streams, disabled again, with the same act workers
(processes x threads) as onair's shipped process model and the same time from registration to the
first due instant. Lateness is the simulator's arrival time of the enable call minus its due time
(signed: a negative earliest is an early call). CPU counts every process of each side (onair: act
workers, planner, beat, the `onair run` supervisor; baseline: its workers) from registration to the
last call. Each run prints onair / baseline ratios; the raw lines go to benchmarks/results/.

    .venv/bin/python -m benchmarks.lateness [embedded] [postgres] [--streams N] [--runs 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.baseline import TASK
from benchmarks.common import (
    Backend,
    Proc,
    Simulator,
    act_shape,
    backend,
    backends_from_argv,
    baseline_procs,
    baseline_sender,
    cpu_by_role,
    cpu_split,
    emit,
    lateness_summary,
    loadavg,
    machine,
    peak_rss_mb,
    ratio,
    results_file,
    running,
    scheduler_procs,
    simulator,
    tree_cpu,
    wait_for,
    wait_ticking,
    warm_up_baseline,
    workspace,
)
from benchmarks.spy import profiled

SPREAD = timedelta(seconds=10)
# Both sides get this long from registration to the first due instant: onair's planner runs every 5 s
# and its dispatcher claims 2 s ahead.
REGISTER_AHEAD = timedelta(seconds=9)
RUN_LIMIT = 90.0
SIDES = ("onair", "baseline")


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


def onair_side(
    be: Backend, sim: Simulator, work: Path, streams: list[str], extra: dict[str, str] | None = None
) -> dict[str, object]:
    from worker.store.db import make_engine

    engine = make_engine(be.database_url)
    procs = scheduler_procs(be, sim, work, **(extra or {}))
    try:
        with running(*procs):
            wait_ticking(engine, procs)
            time.sleep(2)  # the workers' start-up planning and stream sync settle
            since, cpu0, roles0 = sim.last_seq(), tree_cpu(procs), cpu_by_role(procs)
            plan = list(
                zip(streams, due_times(len(streams), datetime.now(UTC) + REGISTER_AHEAD), strict=True)
            )
            with profiled(procs, f"lateness-{be.name}"):
                register_broadcasts(engine, plan)
                found = collect(sim, since, plan, procs)
                cpu = tree_cpu(procs) - cpu0
                roles = cpu_split(roles0, cpu_by_role(procs), len(streams))
            rss = peak_rss_mb(procs)
    finally:
        engine.dispose()
    return {
        **figures(plan, found),
        "cpu_s_per_1000": round(cpu * 1000 / len(streams), 2),
        "cpu_s_per_1000_by_role": roles,
        "rss_mb": {k: round(v) for k, v in rss.items()},
        "load": loadavg(),
    }


def baseline_side(be: Backend, sim: Simulator, work: Path, streams: list[str]) -> dict[str, object]:
    shape = act_shape(be)
    procs = baseline_procs(be.broker_url, sim, work, shape)
    with running(*procs):
        sender = baseline_sender(be.broker_url, work)
        warm_up_baseline(sim, sender, streams[0], procs)
        since, cpu0 = sim.last_seq(), tree_cpu(procs)
        plan = list(zip(streams, due_times(len(streams), datetime.now(UTC) + REGISTER_AHEAD), strict=True))
        for stream, due in plan:
            sender.send_task(TASK, (stream,), eta=due)
        found = collect(sim, since, plan, procs)
        cpu = tree_cpu(procs) - cpu0
        rss = peak_rss_mb(procs)
    return {
        **figures(plan, found),
        "cpu_s_per_1000": round(cpu * 1000 / len(streams), 2),
        "rss_mb": {k: round(v) for k, v in rss.items()},
        "workers": str(shape),
        "load": loadavg(),
    }


def compare(onair: dict[str, object], base: dict[str, object]) -> dict[str, object]:
    return {
        "cpu_ratio": ratio(onair["cpu_s_per_1000"], base["cpu_s_per_1000"]),
        "p50_ratio": ratio(onair["p50_ms"], base["p50_ms"]),
        "p99_ratio": ratio(onair["p99_ms"], base["p99_ms"]),
        "max_ratio": ratio(onair["max_ms"], base["max_ms"]),
        "onair_p99_ms": onair["p99_ms"],
        "onair_earliest_ms": onair["earliest_ms"],
        "baseline_earliest_ms": base["earliest_ms"],
        "onair_never_early": isinstance(onair["earliest_ms"], float) and onair["earliest_ms"] >= 0,
    }


def run_once(
    name: str,
    count: int,
    index: int,
    results: Path,
    sides: Sequence[str] = SIDES,
    extra: dict[str, str] | None = None,
) -> None:
    """One run: both sides on one simulator and one database, onair first on even runs and the
    baseline first on odd ones (so neither always meets the machine's load or the call log second)."""
    with workspace(f"lateness-{name}") as work, simulator(work) as sim, backend(name, work) as be:
        from worker.store.db import make_engine

        streams = sim.make_disabled_streams(count)
        engine = make_engine(be.database_url)
        register_streams(engine, streams)
        engine.dispose()
        rows: dict[str, dict[str, object]] = {}
        for side in sides if index % 2 == 0 else reversed(sides):
            if side == "onair":
                rows[side] = onair_side(be, sim, work, streams, extra)
            else:
                rows[side] = baseline_side(be, sim, work, streams)
            emit(f"lateness {side} {name}", {"run": index + 1, **(extra or {}), **rows[side]}, results)
            sim.disable(streams)
        if len(rows) < 2:
            return
        emit(
            f"lateness ratio {name}", {"run": index + 1, **compare(rows["onair"], rows["baseline"])}, results
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*", default=[])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=SIDES, default=None, help="run one side (no ratio)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="ONAIR_X=V", help="an onair setting (experiments)"
    )
    args = parser.parse_args(argv)
    sides = (args.only,) if args.only else SIDES
    extra = dict(item.split("=", 1) for item in args.set)
    print(f"machine: {machine()}", flush=True)
    for name in backends_from_argv(args.backends):
        results = results_file("lateness", name)
        emit("machine", {"backend": name, "machine": machine(), "streams": args.streams}, results)
        for index in range(args.runs):
            run_once(name, args.streams, index, results, sides, extra)
        print(f"raw lines: {results}", flush=True)


if __name__ == "__main__":
    main()

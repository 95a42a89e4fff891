"""Burst and cost, side by side: N actions (default 10,000) due at the same instant, one enable per
disabled stream, registered while each side runs, the same time ahead of the instant on both sides.
onair runs as shipped (`onair run` embedded, the Procfile's worker, planner and beat on PostgreSQL +
Redis); the naive baseline (Celery eta=instant, one PUT) runs the same act workers (processes x
threads) on Redis on both backends (the folder broker sorts its whole folder on every fetch, which
would penalise the baseline's 10,000 single messages). Figures: seconds from the instant to the last
call, actions per second, early calls, and the CPU of every process of each side from registration to
the last call per 1,000 actions; then onair / baseline ratios. The raw lines go to benchmarks/results/.

    .venv/bin/python -m benchmarks.burst [embedded] [postgres] [--actions N] [--runs 3] [--max-rps R]
                                         [--set ONAIR_SETTING=VALUE ...]

With `--max-rps R` the scheduler runs with FASTPIX_MAX_RPS=R and the simulator answers 429 above R
requests a second: the figures then add the requests per second FastPix saw and how many were 429s,
and the baseline (which has no budget) is skipped.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from benchmarks.baseline import TASK
from benchmarks.common import (
    REDIS_URL,
    Backend,
    Proc,
    Simulator,
    act_shape,
    arrival,
    backend,
    backends_from_argv,
    baseline_procs,
    baseline_sender,
    cpu_by_role,
    cpu_split,
    emit,
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
from benchmarks.lateness import SIDES, register_broadcasts, register_streams
from benchmarks.spy import profiled
from worker.domain.budget import CALLS_PER_ACTION, REFILL_SHARE

# From registration to the instant, on both sides: onair's planner (every 5 s) plans the 10,000 new
# broadcasts in a tick or two, and the baseline's sender queues 10,000 messages.
REGISTER_AHEAD = timedelta(seconds=30)
DRAIN_LIMIT = 240.0


def drain(
    sim: Simulator,
    since: int,
    streams: list[str],
    due: datetime,
    procs: Sequence[Proc],
    cpu0: float,
    max_rps: int | None = None,
) -> dict[str, object]:
    wanted = set(streams)
    log = sim.arrivals(since, "enable")

    def done() -> bool:
        return datetime.now(UTC) >= due and wanted <= log.poll().keys()

    limit = DRAIN_LIMIT + (due - datetime.now(UTC)).total_seconds()
    if max_rps:  # twice as long as the budget needs (a read and an act per action, refilled at 90 %)
        limit += 2 * len(streams) * CALLS_PER_ACTION / (REFILL_SHARE * max_rps)
    try:
        wait_for("every enable call", done, limit, procs, every=0.5)
    except TimeoutError:
        log.poll()
    found = {s: t for s, t in log.first.items() if s in wanted}
    cpu = tree_cpu(procs) - cpu0
    last = max(found.values()) if found else due
    seconds = (last - due).total_seconds()
    early = sum(1 for t in found.values() if t < due)
    return {
        "actions": len(streams),
        "done": len(found),
        "early": early,
        "earliest_ms": round(min((t - due).total_seconds() * 1000 for t in found.values()), 2)
        if found
        else None,
        "drain_s": round(seconds, 2),
        "actions_per_s": round(len(found) / seconds) if seconds > 0 else None,
        "cpu_s_per_1000": round(cpu * 1000 / max(len(found), 1), 2),
        "rss_mb": {k: round(v) for k, v in peak_rss_mb(procs).items()},
        "load": loadavg(),
    }


def budget_figures(sim: Simulator, since: int, due: datetime) -> dict[str, object]:
    """The drain's /v1 requests as FastPix saw them: the rate from the due instant to the last request,
    the busiest wall-clock second, and the 429s."""
    calls = [c for c in sim.calls(since) if arrival(c) >= due]
    times = sorted(arrival(c) for c in calls)
    span = (times[-1] - due).total_seconds() if times else 0.0
    per_second: dict[int, int] = {}
    for t in times:
        per_second[int(t.timestamp())] = per_second.get(int(t.timestamp()), 0) + 1
    return {
        "requests": len(calls),
        "requests_per_s": round(len(calls) / span) if span > 0 else None,
        "busiest_second": max(per_second.values(), default=0),
        "http_429": sum(1 for c in calls if c.get("http_status") == 429),
    }


def onair_side(
    be: Backend, sim: Simulator, work: Path, streams: list[str], max_rps: int | None, extra: dict[str, str]
) -> dict[str, object]:
    from worker.store.db import make_engine

    engine = make_engine(be.database_url)
    budget = {"FASTPIX_MAX_RPS": str(max_rps)} if max_rps else {}
    procs = scheduler_procs(be, sim, work, **budget, **extra)
    try:
        with running(*procs):
            wait_ticking(engine, procs)
            time.sleep(2)  # the workers' start-up planning and stream sync settle
            if max_rps:
                httpx.post(
                    f"{sim.root}/_sim/rate-limit", json={"rps": max_rps}, timeout=10
                ).raise_for_status()
            since, cpu0, roles0 = sim.last_seq(), tree_cpu(procs), cpu_by_role(procs)
            due = datetime.now(UTC) + REGISTER_AHEAD
            with profiled(procs, f"burst-{be.name}"):
                register_broadcasts(engine, [(s, due) for s in streams])
                figures = drain(sim, since, streams, due, procs, cpu0, max_rps)
                done = figures["done"]
                figures["cpu_s_per_1000_by_role"] = cpu_split(
                    roles0, cpu_by_role(procs), done if isinstance(done, int) else len(streams)
                )
            if max_rps:
                figures.update(budget_figures(sim, since, due))
                httpx.post(f"{sim.root}/_sim/rate-limit", json={"rps": None}, timeout=10)
    finally:
        engine.dispose()
    return figures


def baseline_side(be: Backend, sim: Simulator, work: Path, streams: list[str]) -> dict[str, object]:
    shape = act_shape(be)
    procs = baseline_procs(REDIS_URL, sim, work, shape)
    with running(*procs):
        sender = baseline_sender(REDIS_URL, work)
        warm_up_baseline(sim, sender, streams[0], procs)
        since, cpu0 = sim.last_seq(), tree_cpu(procs)
        due = datetime.now(UTC) + REGISTER_AHEAD
        for stream in streams:
            sender.send_task(TASK, (stream,), eta=due)
        figures = drain(sim, since, streams, due, procs, cpu0)
    return {**figures, "workers": str(shape), "broker": "redis"}


def compare(onair: dict[str, object], base: dict[str, object]) -> dict[str, object]:
    return {
        "cpu_ratio": ratio(onair["cpu_s_per_1000"], base["cpu_s_per_1000"]),
        "rate_ratio": ratio(onair["actions_per_s"], base["actions_per_s"]),
        "onair_done": onair["done"],
        "onair_early": onair["early"],
        "baseline_early": base["early"],
    }


def run_once(
    name: str,
    count: int,
    index: int,
    max_rps: int | None,
    results: Path,
    extra: dict[str, str],
    sides: Sequence[str] = SIDES,
) -> None:
    # Writing the simulator's snapshot of 10,000 streams stalls it for a second or more, and then it reads
    # the requests queued meanwhile at once: its one-second window sees a clump the client never sent.
    # No run needs the snapshot, so it is written only at the end.
    with workspace(f"burst-{name}") as work, simulator(work, 3600.0) as sim, backend(name, work) as be:
        from worker.store.db import make_engine

        streams = sim.make_disabled_streams(count)
        engine = make_engine(be.database_url)
        register_streams(engine, streams)
        engine.dispose()
        if max_rps:
            figures = onair_side(be, sim, work, streams, max_rps, extra)
            emit(f"burst onair {name} max_rps={max_rps}", {"run": index + 1, **extra, **figures}, results)
            return
        rows: dict[str, dict[str, object]] = {}
        for side in sides if index % 2 == 0 else reversed(sides):
            if side == "onair":
                rows[side] = onair_side(be, sim, work, streams, None, extra)
            else:
                rows[side] = baseline_side(be, sim, work, streams)
            emit(f"burst {side} {name}", {"run": index + 1, **extra, **rows[side]}, results)
            sim.disable(streams)
        if len(rows) < 2:
            return
        emit(f"burst ratio {name}", {"run": index + 1, **compare(rows["onair"], rows["baseline"])}, results)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*", default=[])
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--max-rps", type=int, default=None, help="FASTPIX_MAX_RPS, and the simulator's 429 limit"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="ONAIR_X=V", help="an onair setting (experiments)"
    )
    parser.add_argument("--only", choices=SIDES, default=None, help="run one side (no ratio)")
    args = parser.parse_args(argv)
    sides = (args.only,) if args.only else SIDES
    extra = dict(item.split("=", 1) for item in args.set)
    print(f"machine: {machine()}", flush=True)
    for name in backends_from_argv(args.backends):
        label = "burst-max-rps" if args.max_rps else "burst"
        results = results_file(label, name)
        emit("machine", {"backend": name, "machine": machine(), "actions": args.actions}, results)
        for index in range(args.runs):
            run_once(name, args.actions, index, args.max_rps, results, extra, sides)
        print(f"raw lines: {results}", flush=True)


if __name__ == "__main__":
    main()

"""Burst and cost: N actions (default 10,000) due at the same instant, one enable per disabled stream.
Figures: seconds from the instant to the last call, actions per second, and CPU seconds of the worker
and beat per 1,000 actions; then the naive baseline (Celery eta=instant, one PUT) on the same streams.

The broadcasts are bulk-inserted and planned once before the scheduler starts (the planner then keeps
re-planning them every tick, as it would in production).

    .venv/bin/python -m benchmarks.burst [embedded] [postgres] [--actions N] [--max-rps R]

With `--max-rps R` the scheduler runs with FASTPIX_MAX_RPS=R and the simulator answers 429 above R
requests a second: the figures then add the requests per second FastPix saw and how many were 429s,
and the baseline (which has no budget) is skipped.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx

from benchmarks.baseline import TASK
from benchmarks.common import (
    Proc,
    Simulator,
    backend,
    backends_from_argv,
    baseline_proc,
    baseline_sender,
    emit,
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
from benchmarks.lateness import register_broadcasts, register_streams

START_AHEAD = timedelta(seconds=25)  # scheduler start-up (two processes importing Celery) fits in this
DRAIN_LIMIT = 240.0


def drain(
    sim: Simulator, since: int, streams: list[str], due: datetime, procs: Sequence[Proc]
) -> dict[str, object]:
    wanted = set(streams)
    log = sim.arrivals(since, "enable")
    cpu0 = tree_cpu(procs)

    def done() -> bool:
        return datetime.now(UTC) >= due and wanted <= log.poll().keys()

    limit = DRAIN_LIMIT + (due - datetime.now(UTC)).total_seconds()
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
        "drain_s": round(seconds, 2),
        "actions_per_s": round(len(found) / seconds) if seconds > 0 else None,
        "cpu_s_per_1000": round(cpu * 1000 / max(len(found), 1), 2),
        "rss_mb": {k: round(v) for k, v in peak_rss_mb(procs).items()},
        "load": loadavg(),
    }


def budget_figures(sim: Simulator, since: int, due: datetime) -> dict[str, object]:
    """The drain's /v1 requests as FastPix saw them: the rate from the due instant to the last request,
    the busiest wall-clock second, and the 429s."""
    from benchmarks.common import arrival

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


def run(name: str, count: int, max_rps: int | None = None) -> None:
    from worker.service import planning
    from worker.service.runtime import Runtime
    from worker.store.db import make_engine

    # Writing the simulator's snapshot of 10,000 streams stalls it for a second or more, and then it reads
    # the requests queued meanwhile at once: its one-second window sees a clump the client never sent.
    # A rate-limit run does not need the snapshot, so it is written only at the end.
    flush = 3600.0 if max_rps else 5.0
    with workspace(f"burst-{name}") as work, simulator(work, flush) as sim, backend(name, work) as be:
        streams = sim.make_disabled_streams(count)
        engine = make_engine(be.database_url)
        register_streams(engine, streams)
        due = datetime.now(UTC) + START_AHEAD
        register_broadcasts(engine, [(s, due) for s in streams])
        planning.plan_tick(_runtime(be, sim, Runtime))
        budget = {"FASTPIX_MAX_RPS": str(max_rps)} if max_rps else {}
        procs = scheduler_procs(be, sim, work, **budget)
        with running(*procs):
            wait_ticking(engine, procs)
            since = sim.last_seq()
            if max_rps:
                httpx.post(
                    f"{sim.root}/_sim/rate-limit", json={"rps": max_rps}, timeout=10
                ).raise_for_status()
            if datetime.now(UTC) >= due - timedelta(seconds=3):
                print("  warning: the scheduler started late; the burst is measured from its due time anyway")
            figures = drain(sim, since, streams, due, procs)
            if max_rps:
                figures.update(budget_figures(sim, since, due))
            emit(f"burst onair {name}" + (f" max_rps={max_rps}" if max_rps else ""), figures)
        engine.dispose()
        if max_rps:
            return

        sim.disable(streams)
        base = baseline_proc(be, sim, work)
        with running(base):
            sender = baseline_sender(be, work)
            warm_up_baseline(sim, sender, streams[0], [base])
            since = sim.last_seq()
            due = datetime.now(UTC) + timedelta(seconds=max(5, count / 1000))
            for stream in streams:
                sender.send_task(TASK, (stream,), eta=due)
            emit(f"burst baseline {name}", drain(sim, since, streams, due, [base]))


def _runtime(be: object, sim: Simulator, runtime_cls: type) -> object:
    from worker.config import FastPixSettings, OnairSettings

    settings = OnairSettings(database_url=be.database_url, broker_url=be.broker_url)  # type: ignore[attr-defined]
    fastpix = FastPixSettings(api_url=sim.base_url, access_token_id="x", secret_key="x")  # type: ignore[arg-type]
    return runtime_cls(settings=settings, fastpix=fastpix)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*", default=[])
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument(
        "--max-rps", type=int, default=None, help="FASTPIX_MAX_RPS, and the simulator's 429 limit"
    )
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    for name in backends_from_argv(args.backends):
        run(name, args.actions, args.max_rps)


if __name__ == "__main__":
    main()

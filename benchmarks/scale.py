"""Scale and memory: 1,000 / 100,000 / 1,000,000 stored broadcasts on 1,000 streams, bulk-inserted
with one SQL statement: half in the past (each with its two succeeded actions in the ledger), half
far in the future (3 days on), plus 300 inside the 24 h horizon. Figures: set-up time, planner tick and
dispatcher tick (median of repeated in-process ticks), database size, and the peak RSS of a real worker
and beat run against that database for 20 s. The dispatcher tick is timed idle (nothing due) and
claiming N due actions (N = 1, 50, 500, on N distinct streams, written just before each tick and
settled after it, untimed), so the claim itself is measured among the stored rows. The raw lines go to
benchmarks/results/.

    .venv/bin/python -m benchmarks.scale [embedded] [postgres] [--sizes 1000,100000,1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.common import (
    backend,
    backends_from_argv,
    database_size,
    emit,
    loadavg,
    machine,
    peak_rss_mb,
    results_file,
    running,
    scheduler_procs,
    simulator,
    wait_ticking,
    workspace,
)

STREAMS = 1000
IN_HORIZON = 300
SETUP_LIMIT = 600.0  # seconds; a bigger size is skipped once one set-up took longer than this
RSS_SECONDS = 20.0
CLAIM_SIZES = (1, 50, 500)
CLAIM_REPEAT = 7

_PG_TIME = (
    "CASE WHEN (g / {streams}) % 2 = 0"
    " THEN now() - interval '2 days' - (g / {streams} / 2) * interval '1 hour'"
    " ELSE now() + interval '3 days' + (g / {streams} / 2) * interval '1 hour' END"
)
_SQLITE_TIME = (
    "CASE WHEN (g / {streams}) % 2 = 0"
    " THEN strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 days', '-' || (g / {streams} / 2) || ' hours')"
    " ELSE strftime('%Y-%m-%d %H:%M:%f', 'now', '+3 days', '+' || (g / {streams} / 2) || ' hours') END"
)


def bulk_insert(engine: sa.Engine, count: int) -> None:
    pg = engine.dialect.name == "postgresql"
    series = (
        f"SELECT g FROM generate_series(0, {count - 1}) AS g"
        if pg
        else f"WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < {count - 1}) "
        "SELECT g FROM s"
    )
    starts = (_PG_TIME if pg else _SQLITE_TIME).format(streams=STREAMS)
    plus_30m = (
        "starts_at + interval '30 minutes'"
        if pg
        else "strftime('%Y-%m-%d %H:%M:%f', starts_at, '+30 minutes')"
    )
    now = "now()" if pg else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    # SQLite: give slot_starts_at, created_at and updated_at in the canonical form the triggers would
    # write. Their defaults (CURRENT_TIMESTAMP, no milliseconds) are not canonical, so each row would
    # otherwise be inserted and then updated twice by the AFTER INSERT triggers, each update firing the
    # update triggers (the overlap check among them) again: 300,000 broadcasts took 21 s instead of 7.4 s.
    # The BEFORE INSERT checks (timestamps, no overlap) still run on every row.
    kept = (
        ("", "")
        if pg
        else (
            ", slot_starts_at, created_at, updated_at",
            f", strftime('%Y-%m-%d %H:%M:%f', starts_at, '-300 seconds'), {now}, {now}",
        )
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO streams (stream_id, name, status, created_at) "
                f"SELECT 'st' || g, 'st' || g, 'idle', {now} FROM ({series}) AS q WHERE g < {STREAMS}"
            )
        )
        conn.execute(
            sa.text(
                f"INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds, title{kept[0]}) "
                f"SELECT stream_id, starts_at, {plus_30m}, 300, 'scale'{kept[1]}"
                f" FROM (SELECT 'st' || (g % {STREAMS})"
                f" AS stream_id, {starts} AS starts_at FROM ({series}) AS q) AS b"
            )
        )
        for kind, at in (("enable", "slot_starts_at"), ("finish", "ends_at")):
            conn.execute(
                sa.text(
                    "INSERT INTO actions (idempotency_key, stream_id, kind, source, source_id, due_at, "
                    "deadline_at, sequence, state, attempts, next_attempt_at, reason, outcome, created_at, "
                    "updated_at, finished_at) "
                    f"SELECT 'b:' || id || '/{kind}', stream_id, '{kind}', 'broadcast', id, {at}, {at}, 0, "
                    f"'succeeded', 1, {at}, 'scale', 'done', {at}, {at}, {at} "
                    f"FROM broadcasts WHERE starts_at < {now}"
                )
            )
    # The few hundred inside the horizon, on distinct streams, between 2 h and 20 h from now.
    from worker.store.models import Broadcast

    soon = datetime.now(UTC) + timedelta(hours=2)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Broadcast.__table__),  # type: ignore[arg-type]
            [
                {
                    "stream_id": f"st{i}",
                    "starts_at": soon + timedelta(minutes=3 * i),
                    "ends_at": soon + timedelta(minutes=3 * i + 30),
                    "lead_seconds": 300,
                    "title": "in horizon",
                }
                for i in range(IN_HORIZON)
            ],
        )
        if pg:  # autovacuum would do it soon; SQLite has no statistics unless someone runs ANALYZE
            conn.execute(sa.text("ANALYZE"))


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall milliseconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def claim_tick_ms(rt: object, engine: sa.Engine, size: int, repeat: int = CLAIM_REPEAT) -> float:
    """Median wall milliseconds of a dispatcher tick that claims `size` due actions, one per stream."""
    from worker.service import dispatcher
    from worker.store.models import Action

    table = Action.__table__
    times = []
    for round_ in range(repeat):
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(table),  # type: ignore[arg-type]
                [
                    {
                        "idempotency_key": f"claim:{size}:{round_}:{i}",
                        "stream_id": f"st{i}",
                        "kind": "enable",
                        "source": "broadcast",
                        "source_id": None,
                        "due_at": now - timedelta(seconds=1),
                        "deadline_at": now + timedelta(hours=1),
                        "next_attempt_at": now - timedelta(seconds=1),
                        "reason": "scale claim",
                    }
                    for i in range(size)
                ],
            )
        claimed: list[object] = []
        start = time.perf_counter()
        report = dispatcher.dispatch_tick(rt, claimed.extend)  # type: ignore[arg-type]
        times.append((time.perf_counter() - start) * 1000)
        if report.claimed != size:
            raise RuntimeError(f"the tick claimed {report.claimed} of {size} due actions")
        with engine.begin() as conn:  # settle them, so the next round's streams are free
            conn.execute(
                sa.update(table)  # type: ignore[arg-type]
                .where(table.c.idempotency_key.like(f"claim:{size}:{round_}:%"))  # type: ignore[attr-defined]
                .values(state="succeeded", finished_at=now, lease_token=None, lease_expires_at=None)
            )
    return round(statistics.median(times), 1)


def measure(name: str, count: int, results: Path | None = None) -> float:
    from worker.config import FastPixSettings, OnairSettings
    from worker.service import dispatcher, planning
    from worker.service.runtime import Runtime
    from worker.store.db import make_engine

    with workspace(f"scale-{name}") as work, simulator(work) as sim, backend(name, work) as be:
        engine = make_engine(be.database_url)
        start = time.perf_counter()
        bulk_insert(engine, count)
        setup = time.perf_counter() - start
        settings = OnairSettings(database_url=be.database_url, broker_url=be.broker_url, data_dir=str(work))
        fastpix = FastPixSettings(api_url=sim.base_url, access_token_id="x", secret_key="x")  # type: ignore[arg-type]
        rt = Runtime(settings=settings, fastpix=fastpix)
        first_plan = timed(lambda: planning.plan_tick(rt), 1)
        plan_ms = timed(lambda: planning.plan_tick(rt), 5)
        dispatch_ms = timed(lambda: dispatcher.dispatch_tick(rt, lambda claim: None), 20)
        claim_ms = {f"claim_{n}_ms": claim_tick_ms(rt, engine, n) for n in CLAIM_SIZES}
        with engine.connect() as conn:
            pending = conn.execute(sa.text("SELECT count(*) FROM actions WHERE state = 'pending'")).scalar()
            total = conn.execute(sa.text("SELECT count(*) FROM actions")).scalar()
        size_mb = round(database_size(engine) / 1024 / 1024, 1)
        procs = scheduler_procs(be, sim, work)
        with running(*procs):
            wait_ticking(engine, procs, timeout=120)
            time.sleep(RSS_SECONDS)
            rss = {k: round(v) for k, v in peak_rss_mb(procs).items()}
        rt.engine.dispose()
        engine.dispose()
        emit(
            f"scale {name} {count}",
            {
                "broadcasts": count + IN_HORIZON,
                "actions": total,
                "pending_in_horizon": pending,
                "setup_s": round(setup, 1),
                "first_plan_ms": first_plan,
                "plan_tick_ms": plan_ms,
                "dispatch_tick_ms": dispatch_ms,
                **claim_ms,
                "db_mb": size_mb,
                "rss_mb": rss,
                "load": loadavg(),
            },
            results,
        )
        return setup


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*", default=[])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    for name in backends_from_argv(args.backends):
        results = results_file("scale", name)
        emit("machine", {"backend": name, "machine": machine(), "sizes": sizes}, results)
        for count in sizes:
            if measure(name, count, results) > SETUP_LIMIT:
                print(f"scale {name}: set-up took over {SETUP_LIMIT:.0f} s; larger sizes skipped", flush=True)
                break


if __name__ == "__main__":
    main()

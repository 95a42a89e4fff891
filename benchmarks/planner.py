"""The planner tick on a busy night (issue 10): 100 streams, each with a recurring 2-minute broadcast
every 4 or 5 minutes (plain SQL into broadcast_series, lead 20 s), and 10 more streams with an
off-hours window every 3 minutes: about 74,000 actions in the 24 h horizon. In-process ticks with a
clock moved 5 s per tick. Figures: the cold first tick (and when its near window was planned), the
steady tick with nothing changed, the tick after one edit, p50/p99/max over a run of ticks, the
longest write transaction the planner held, and the longest wait of a small writer (another engine,
one row every ~10 ms, as a claim would) behind the planner. The edit ticks also report how many
streams and actions they re-planned (the tick's own counts).

    .venv/bin/python -m benchmarks.planner [embedded] [postgres] [--ticks 120] [--rows] [--results DIR]

Each figure's JSON line is also written to DIR/planner-<UTC timestamp>.jsonl (default
benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.common import backend, backends_from_argv, emit, loadavg, machine, percentile, workspace

SERIES_STREAMS = 100
OFF_HOURS_STREAMS = 10


def populate_rows(engine: sa.Engine, now: datetime) -> None:
    """The same night as broadcasts rows written directly (what the series would materialise over
    the next 26 h), for the steady-state figures without the materialiser's cold start."""
    from worker.store.models import Broadcast

    stamp = "now()" if engine.dialect.name == "postgresql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    base = now.replace(second=0, microsecond=0)
    with engine.begin() as conn:
        for i in range(SERIES_STREAMS + OFF_HOURS_STREAMS):
            conn.execute(
                sa.text(
                    f"INSERT INTO streams (stream_id, name, created_at) VALUES ('st{i}', 'st{i}', {stamp})"
                )
            )
        for i in range(SERIES_STREAMS):
            every = 4 if i % 2 == 0 else 5
            rows = [
                {
                    "stream_id": f"st{i}",
                    "starts_at": base + timedelta(minutes=m),
                    "ends_at": base + timedelta(minutes=m, seconds=120),
                    "lead_seconds": 20,
                    "title": "night",
                }
                for m in range(every, 26 * 60, every)
            ]
            conn.execute(sa.insert(Broadcast.__table__), rows)  # type: ignore[arg-type]
        for i in range(SERIES_STREAMS, SERIES_STREAMS + OFF_HOURS_STREAMS):
            conn.execute(
                sa.text(
                    "INSERT INTO off_hours (stream_id, cron, timezone, duration_seconds, label)"
                    f" VALUES ('st{i}', '*/3 * * * *', 'UTC', 60, 'pause')"
                )
            )


def populate(engine: sa.Engine) -> None:
    now = "now()" if engine.dialect.name == "postgresql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    with engine.begin() as conn:
        for i in range(SERIES_STREAMS + OFF_HOURS_STREAMS):
            conn.execute(
                sa.text(f"INSERT INTO streams (stream_id, name, created_at) VALUES ('st{i}', 'st{i}', {now})")
            )
        for i in range(SERIES_STREAMS):
            every = 4 if i % 2 == 0 else 5
            conn.execute(
                sa.text(
                    "INSERT INTO broadcast_series (stream_id, cron, timezone, duration_seconds, lead_seconds,"
                    f" title) VALUES ('st{i}', '*/{every} * * * *', 'UTC', 120, 20, 'night')"
                )
            )
        for i in range(SERIES_STREAMS, SERIES_STREAMS + OFF_HOURS_STREAMS):
            conn.execute(
                sa.text(
                    "INSERT INTO off_hours (stream_id, cron, timezone, duration_seconds, label)"
                    f" VALUES ('st{i}', '*/3 * * * *', 'UTC', 60, 'pause')"
                )
            )


class Results:
    """Prints each figure (benchmarks.common.emit) and appends its JSON line to the run's file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"planner-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"

    def emit(self, title: str, row: dict[str, object]) -> None:
        emit(title, row)
        with self.path.open("a") as out:
            out.write(json.dumps({"benchmark": title, **row}) + "\n")


class Held:
    """Wall time of every write transaction the planner opens (wrapping worker.store.db.transaction
    where the planner's modules call it)."""

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self.count = 0

    def wrap(self, real: Any) -> Any:
        @contextmanager
        def timed(engine: sa.Engine, *, immediate: bool = True) -> Iterator[Any]:
            if not immediate:
                with real(engine, immediate=False) as session:
                    yield session
                return
            with real(engine) as session:
                session.connection()  # the lock is taken here (BEGIN IMMEDIATE on SQLite)
                start = time.perf_counter()
                yield session
                session.flush()
            self.longest_ms = max(self.longest_ms, (time.perf_counter() - start) * 1000)
            self.count += 1

        return timed


class Writer(threading.Thread):
    """A small writer on its own engine: how long each one-row write waits behind the planner."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        from worker.store.db import make_engine

        self.engine = make_engine(url)
        self.waits: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from worker.store import db

        while not self.stop.is_set():
            start = time.perf_counter()
            with db.transaction(self.engine) as session:
                session.execute(
                    sa.text("UPDATE scheduler_state SET updated_at = updated_at WHERE key = 'none'")
                )
            self.waits.append((time.perf_counter() - start) * 1000)
            time.sleep(0.01)
        self.engine.dispose()


def measure(name: str, ticks: int, rows: bool, results: Results) -> None:
    from worker.clock import FixedClock
    from worker.config import FastPixSettings, OnairSettings
    from worker.service import planning
    from worker.service.runtime import Runtime
    from worker.store import db, planner_state
    from worker.store.db import make_engine

    with workspace(f"planner-{name}") as work, backend(name, work) as be:
        engine = make_engine(be.database_url)
        start_at = datetime.now(UTC)
        if rows:
            populate_rows(engine, start_at)
        else:
            populate(engine)
        held = Held()
        planning.transaction = held.wrap(db.transaction)  # type: ignore[attr-defined]
        planner_state.transaction = held.wrap(db.transaction)  # type: ignore[attr-defined]
        clock = FixedClock(start_at)
        settings = OnairSettings(database_url=be.database_url, data_dir=str(work))
        rt = Runtime(settings, FastPixSettings(), clock, engine=engine)

        near_at: list[float] = []
        real_plan = planning._Tick._plan

        def noted(tick: Any, streams: Any, start: datetime, end: datetime) -> set[int]:
            found = real_plan(tick, streams, start, end)
            near_at.append(time.perf_counter())
            return found

        planning._Tick._plan = noted  # type: ignore[method-assign,assignment]
        writer = Writer(be.database_url)
        writer.start()
        began = time.perf_counter()
        cold = planning.plan_tick(rt)
        cold_s = time.perf_counter() - began
        writer.stop.set()
        writer.join()
        planning._Tick._plan = real_plan  # type: ignore[method-assign]
        with engine.connect() as conn:
            pending = conn.execute(sa.text("SELECT count(*) FROM actions WHERE state = 'pending'")).scalar()
            broadcasts = conn.execute(sa.text("SELECT count(*) FROM broadcasts")).scalar()
        results.emit(
            f"planner {name} cold tick{' (rows written directly)' if rows else ''}",
            {
                "actions_pending": pending,
                "broadcasts": broadcasts,
                "tick_s": round(cold_s, 1),
                "near_window_planned_s": round(near_at[0] - began, 2) if near_at else None,
                "longest_write_ms": round(held.longest_ms, 1),
                "write_transactions": held.count,
                "writer_wait_p99_ms": round(percentile(writer.waits, 99), 1),
                "writer_wait_max_ms": round(max(writer.waits), 1),
                "summary": cold.summary,
            },
        )

        held.longest_ms = 0.0
        steady: list[float] = []
        quiet: list[float] = []
        writer = Writer(be.database_url)
        writer.start()
        after_cold: planning.PlanReport | None = None
        quiet_cpu: list[float] = []
        for _ in range(ticks):
            clock.advance(5)
            start, cpu = time.perf_counter(), time.thread_time()
            report = planning.plan_tick(rt)
            elapsed = (time.perf_counter() - start) * 1000
            after_cold = after_cold or report
            steady.append(elapsed)
            if not (report.changed or report.full):
                quiet.append(elapsed)
                quiet_cpu.append((time.thread_time() - cpu) * 1000)
        edits: list[float] = []
        edit_work: list[tuple[int, int]] = []
        for i in range(10):
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "UPDATE broadcasts SET title = :t WHERE id = (SELECT min(id) FROM broadcasts"
                        " WHERE stream_id = :s AND starts_at > :after)"
                    ),
                    {"t": f"edited {i}", "s": f"st{i}", "after": clock.now()},
                )
            clock.advance(5)
            start = time.perf_counter()
            edited = planning.plan_tick(rt)
            edits.append((time.perf_counter() - start) * 1000)
            edit_work.append((edited.replanned_streams, edited.computed))
        clock.advance(5)
        start = time.perf_counter()
        planning.plan_tick(rt, full=True)
        full_ms = (time.perf_counter() - start) * 1000
        writer.stop.set()
        writer.join()
        all_ticks = steady + edits
        results.emit(
            f"planner {name} steady ticks",
            {
                "ticks": len(steady),
                "nothing_changed_p50_ms": round(percentile(quiet, 50), 2),
                "nothing_changed_max_ms": round(max(quiet), 2) if quiet else None,
                # The planner thread's own CPU time (on SQLite the database's work too): what the tick
                # costs, apart from waiting for a core on a loaded machine.
                "nothing_changed_cpu_p50_ms": round(percentile(quiet_cpu, 50), 2),
                "after_one_edit_p50_ms": round(percentile(edits, 50), 1),
                "after_one_edit_max_ms": round(max(edits), 1),
                "after_one_edit_streams_replanned_max": max(w[0] for w in edit_work),
                "after_one_edit_actions_computed_max": max(w[1] for w in edit_work),
                "first_tick_after_cold_actions_computed": after_cold.computed if after_cold else None,
                "p50_ms": round(percentile(all_ticks, 50), 2),
                "p99_ms": round(percentile(all_ticks, 99), 1),
                "max_ms": round(max(all_ticks), 1),
                "full_replan_s": round(full_ms / 1000, 1),
                "longest_write_ms": round(held.longest_ms, 1),
                "writer_wait_p99_ms": round(percentile(writer.waits, 99), 1),
                "writer_wait_max_ms": round(max(writer.waits), 1),
                "load": loadavg(),
            },
        )
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*", default=[])
    parser.add_argument("--ticks", type=int, default=120)
    parser.add_argument(
        "--results",
        type=Path,
        default=Path(__file__).parent / "results",
        help="folder for the run's raw JSON lines (default benchmarks/results)",
    )
    parser.add_argument(
        "--rows", action="store_true", help="write the occurrences as broadcasts rows, not as series"
    )
    args = parser.parse_args(argv)
    results = Results(args.results)
    print(f"machine: {machine()}", flush=True)
    results.emit("planner machine", {"machine": machine(), "ticks": args.ticks, "rows": args.rows})
    for name in backends_from_argv(args.backends):
        measure(name, args.ticks, args.rows, results)
    print(f"raw JSON lines: {results.path}", flush=True)


if __name__ == "__main__":
    main()

"""Soak: a busy night on one machine, from an empty database (the first planner tick included).

100 disabled streams, each with a recurring 2-minute broadcast every 4 or 5 minutes (plain SQL into
`broadcast_series`, lead 20 s), 10 more streams with an off-hours window every 3 minutes, encoders
connecting for 80 % of the slots; the scheduler run as shipped (embedded: `onair run`; postgres: the
Procfile's worker, planner and beat) against the simulator in its own process.

    .venv/bin/python -m benchmarks.soak [embedded] [postgres] [--minutes 30] [--streams 100] ...

It prints, and writes as JSON lines to benchmarks/results/soak-<backend>-<UTC timestamp>.jsonl: the
lateness of every act (the simulator's arrival time of the call minus the due time the schedule gives),
missed acts, ledger-vs-API disagreements, planner and dispatcher tick times (Celery's `succeeded in`
lines), errors in the logs, `onair doctor --json` each minute, CPU and RSS per process (and each
minute where each process's RSS lies: malloc's heap and thread arenas, other anonymous memory, files),
and the database's growth. With `--census N`, each process also writes a heap census every N seconds
(tracemalloc, gc, glibc's mallinfo2: benchmarks/soak_census), summed up in the `census` line.
Backends run one after the other. Exit status 1 when an act was missed or not done,
the ledger disagreed with FastPix, a log said `database is locked` or doctor failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import (
    BIN,
    ROOT,
    Backend,
    Proc,
    Simulator,
    backend,
    backends_from_argv,
    base_env,
    loadavg,
    machine,
    simulator,
    workspace,
)
from benchmarks.soak_night import Encoders, Night, NightShape, build_night, write_schedules
from benchmarks.soak_tally import CHANGING, Call, LedgerRow, Tally, read_ledger
from benchmarks.soak_watch import (
    DbSample,
    Every,
    LogFigures,
    ProcSample,
    Running,
    Verdict,
    doctor_figures,
    growth_figures,
    memory_map,
    process_figures,
    read_logs,
    role_of,
    run_doctor,
    sample_db,
    sample_procs,
    tick_figures,
)

RESULTS = ROOT / "benchmarks" / "results"


class Report:
    """Each figure printed as one readable line and written as one JSON line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def emit(self, title: str, row: dict[str, object], quiet: bool = False) -> None:
        line = json.dumps({"benchmark": title, **row}, default=str)
        with self._lock:
            if not quiet:
                print(f"{title}: " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            with self.path.open("a") as out:
                out.write(line + "\n")


def scheduler_env(be: Backend, sim: Simulator, work: Path, census: float = 0) -> dict[str, str]:
    """Every onair setting at its shipped default: only where the database, broker and FastPix are.
    With `census` (seconds), each process also writes a census of its heap (soak_census/)."""
    env = base_env(
        ONAIR_DATABASE_URL=be.database_url,
        ONAIR_BROKER_URL=be.broker_url,
        ONAIR_DATA_DIR=str(work / "data"),
        **sim.env,
    )
    if census:
        (work / "census").mkdir()
        env["PYTHONPATH"] = f"{Path(__file__).parent / 'soak_census'}{os.pathsep}{env['PYTHONPATH']}"
        env.update(
            ONAIR_SOAK_CENSUS=str(work / "census"),
            ONAIR_SOAK_CENSUS_SECONDS=str(census),
            PYTHONTRACEMALLOC="1",
        )
    return env


def census_figures(folder: Path) -> dict[str, object]:
    """Per process of the census: RSS, live objects and traced memory at its first and last census, the
    object types that grew most, and the source lines whose allocations grew most."""
    found: dict[str, object] = {}
    for path in sorted(folder.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if len(rows) < 2:
            continue
        first, last = rows[0], rows[-1]
        grown = {t: n - first["types"].get(t, 0) for t, n in last["types"].items()}
        role = role_of(last["argv"], "python")
        found[f"{role} (pid {path.stem})"] = {
            "hours": round((last["t"] - first["t"]) / 3600, 3),
            "rss_mb": [first["rss_mb"], last["rss_mb"]],
            "objects": [first["objects"], last["objects"]],
            "traced_mb": [first.get("traced_mb"), last.get("traced_mb")],
            "malloc_mb": [first.get("malloc_mb"), last.get("malloc_mb")],
            "allocated_blocks": [first.get("allocated_blocks"), last.get("allocated_blocks")],
            "gc_collections": [first.get("gc_collections"), last.get("gc_collections")],
            "gc_uncollectable": last.get("gc_uncollectable"),
            "types_grown": dict(sorted(grown.items(), key=lambda kv: -kv[1])[:8]),
            "lines_grown_kb": last.get("grown", [])[:8],
            "lines_grown_last_interval_kb": last.get("grown_since_previous", [])[:5],
            "series": [
                {k: r.get(k) for k in ("t", "rss_mb", "traced_mb", "objects", "malloc_mb")} for r in rows
            ],
        }
    return found


def shipped_procs(be: Backend, env: dict[str, str], work: Path) -> list[Running]:
    if be.name == "embedded":
        return [Proc("onair-run", [str(BIN / "onair"), "run"], env, work / "onair-run.log")]
    from tests.reliability.fleet import procfile_procs

    return list(procfile_procs(env, work))


@contextmanager
def started(procs: Sequence[Running]) -> Iterator[None]:
    try:
        for proc in procs:
            proc.start()  # type: ignore[attr-defined]
        yield
    finally:
        for proc in procs:
            proc.stop()  # type: ignore[attr-defined]


class CallLog:
    """The simulator's call log, read incrementally: the state-changing calls on the night's streams,
    and a count of the rest by endpoint."""

    def __init__(self, sim: Simulator, streams: Sequence[str]) -> None:
        self.sim, self.streams = sim, set(streams)
        self.since = sim.last_seq()
        self.calls: list[Call] = []
        self.other: Counter[str] = Counter()
        self._lock = threading.Lock()

    def poll(self) -> None:
        with self._lock:
            for entry in self.sim.calls(self.since):
                self.since = max(self.since, int(str(entry["seq"])))
                if entry.get("endpoint") in CHANGING and entry.get("stream_id") in self.streams:
                    self.calls.append(Call.from_log(entry))
                else:
                    self.other[str(entry.get("endpoint"))] += 1


def run_night(name: str, shape: NightShape, args: argparse.Namespace) -> tuple[Path, bool]:
    from worker.store.db import make_engine

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = Report(Path(args.results_dir) / f"soak-{name}-{stamp}.jsonl")
    title = f"soak {name}"
    with workspace(f"soak-{name}") as work, simulator(work) as sim, backend(name, work) as be:
        engine = make_engine(be.database_url)
        report.emit(
            f"{title} config",
            {
                "minutes": args.minutes,
                **{k: v for k, v in asdict(shape).items()},
                "first_after_s": args.first_after,
                "census_s": args.census,
                "load": loadavg(),
                "machine": machine(),
                "results": str(report.path),
            },
        )
        # Written in the first third of a minute, the night's first off-hours window (on the first
        # minute from starts_from, see build_night) opens 40-60 s later and, with the default 90 s
        # windows every 3 minutes, the one before it closed 30-50 s earlier: none is running yet.
        second = datetime.now(UTC).second
        if second > 20:
            time.sleep(60 - second)
        starts_from = datetime.now(UTC) + timedelta(seconds=args.first_after)
        night = build_night(sim, shape, starts_from)
        written = datetime.now(UTC)
        write_schedules(engine, night)
        env = scheduler_env(be, sim, work, census=args.census)
        procs = shipped_procs(be, env, work)
        calls = CallLog(sim, night.streams)
        encoders = Encoders(sim, night, seed=args.seed)
        proc_samples: list[ProcSample] = []
        db_samples: list[DbSample] = []
        verdicts: list[Verdict] = []
        end = written + timedelta(minutes=args.minutes)
        warm = written + timedelta(minutes=min(args.warm_up_minutes, args.minutes / 3))

        def sample() -> None:
            proc_samples.extend(sample_procs(procs))

        def each_minute() -> None:
            verdict = run_doctor(env)
            verdicts.append(verdict)
            loads.append(loadavg())
            db = sample_db(engine)
            db_samples.append(db)
            calls.poll()
            latest = {s.role: s for s in proc_samples[-50:]}
            report.emit(
                f"{title} minute",
                {
                    "t_s": round((verdict.at - written).total_seconds()),
                    "doctor": verdict.verdict,
                    "detail": verdict.detail,
                    "actions": db.actions,
                    "action_events": db.events,
                    "db_mb": round(db.bytes / 2**20, 1),
                    "wal_mb": round(db.wal_bytes / 2**20, 1),
                    "rss_mb": {r: round(s.rss_mb, 1) for r, s in sorted(latest.items())},
                    "cpu_s": {r: round(s.cpu_s, 1) for r, s in sorted(latest.items())},
                    "memory_mb": {r: memory_map(s.pid) for r, s in sorted(latest.items())},
                    "load": loadavg(),
                },
                quiet=not args.verbose,
            )

        loads = [loadavg()]
        with started(procs):
            encoders.start(written, end)
            watchers = [Every(args.sample_seconds, sample).start(), Every(60, each_minute).start()]
            try:
                sample()
                while datetime.now(UTC) < end:
                    time.sleep(min(5.0, max(0.0, (end - datetime.now(UTC)).total_seconds())))
                    calls.poll()
                encoders.stop()
                time.sleep(args.settle)
                observed_until = datetime.now(UTC)
            finally:
                for watcher in watchers:
                    watcher.stop()
                encoders.stop()
            sample()
            calls.poll()
            db_samples.append(sample_db(engine))
            ledger = read_ledger(engine, night.streams, observed_until)
        engine.dispose()
        logs = read_logs(sorted(work.glob("*.log")), observed_until)
        if args.census:
            report.emit(f"{title} census", census_figures(work / "census"))
        ok = figures(
            report,
            title,
            night,
            written,
            end,
            observed_until,
            calls,
            ledger,
            encoders,
            proc_samples,
            db_samples,
            verdicts,
            logs,
            warm,
            loads,
        )
    return report.path, ok


def figures(
    report: Report,
    title: str,
    night: Night,
    written: datetime,
    end: datetime,
    observed_until: datetime,
    calls: CallLog,
    ledger: Mapping[tuple[str, str, int], LedgerRow],
    encoders: Encoders,
    proc_samples: list[ProcSample],
    db_samples: list[DbSample],
    verdicts: list[Verdict],
    logs: LogFigures,
    warm: datetime,
    loads: list[str],
) -> bool:
    tally = Tally(
        acts=night.acts(written - timedelta(minutes=10), end + timedelta(minutes=10)),
        counted_from=written,
        counted_until=end,
        observed_until=observed_until,
        calls=sorted(calls.calls, key=lambda c: c.at),
        ledger=ledger,
        encoders=encoders.connected(),
        initially_disabled=night.initially_disabled,
    )
    late = tally.lateness()
    report.emit(f"{title} lateness", {"unit": "ms from due to the call's arrival", **late})
    ledger_row = tally.ledger_figures()
    report.emit(f"{title} ledger", {**ledger_row, "encoders": encoders.summary()})
    report.emit(
        f"{title} ticks",
        {
            "planner": tick_figures(logs.runs.values(), "onair.plan", observed_until),
            "dispatcher": tick_figures(logs.runs.values(), "onair.dispatch", observed_until),
            "expired_unrun": logs.expired,
        },
    )
    report.emit(
        f"{title} errors",
        {
            "database_is_locked": logs.locked,
            "error_lines": len(logs.error_lines),
            "restarts": logs.restarts,
            "first": logs.error_lines[:5],
        },
    )
    doctor = doctor_figures(verdicts)
    report.emit(f"{title} doctor", doctor)
    report.emit(
        f"{title} processes",
        {
            "warm_up_until_s": round((warm - written).total_seconds()),
            **process_figures(proc_samples, written, warm),
        },
    )
    report.emit(
        f"{title} growth",
        {"warm_up_until_s": round((warm - written).total_seconds()), **growth_figures(db_samples, warm)},
    )
    report.emit(
        f"{title} calls",
        {"state_changing": len(calls.calls), "other_by_endpoint": dict(calls.other.most_common())},
    )
    clean = (
        ledger_row["missed"] == 0
        and ledger_row["not_done"] == 0
        and ledger_row["disagreements"] == 0
        and logs.locked == 0
        and doctor["failed"] == 0
    )
    one_minute = [float(load.split()[0]) for load in loads]
    report.emit(
        f"{title} verdict",
        {"clean": clean, "load_1min_min_max": [min(one_minute), max(one_minute)], "load_at_end": loadavg()},
    )
    return bool(clean)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("backends", nargs="*", default=[], help="embedded, postgres (default both)")
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the night is measured")
    parser.add_argument("--streams", type=int, default=100, help="streams with a recurring broadcast")
    parser.add_argument("--periods", default="4,5", help="minutes between a stream's slots, taken in turn")
    parser.add_argument("--slot-seconds", type=int, default=120)
    parser.add_argument("--lead-seconds", type=int, default=20)
    parser.add_argument("--offhours-streams", type=int, default=10)
    parser.add_argument("--offhours-period", type=int, default=3, help="minutes between window starts")
    parser.add_argument("--offhours-seconds", type=int, default=90, help="length of an off-hours window")
    parser.add_argument("--encoder-share", type=float, default=0.8, help="share of slots an encoder joins")
    parser.add_argument("--stagger", action="store_true", help="spread each period's slots over its minutes")
    parser.add_argument(
        "--first-after", type=float, default=40.0, help="seconds from the schedules' write to the first slot"
    )
    parser.add_argument(
        "--settle", type=float, default=15.0, help="seconds to let acts due at the end finish"
    )
    parser.add_argument("--warm-up-minutes", type=float, default=5.0, help="excluded from growth slopes")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="between /proc samples")
    parser.add_argument("--seed", type=int, default=1, help="which slots get an encoder")
    parser.add_argument("--results-dir", default=str(RESULTS))
    parser.add_argument(
        "--census",
        type=float,
        default=0,
        help="every N seconds, each onair process writes a heap census (tracemalloc on: diagnosis only)",
    )
    parser.add_argument("--verbose", action="store_true", help="print the per-minute lines too")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    shape = NightShape(
        streams=args.streams,
        periods=tuple(int(p) for p in args.periods.split(",")),
        slot_seconds=args.slot_seconds,
        lead_seconds=args.lead_seconds,
        offhours_streams=args.offhours_streams,
        offhours_period=args.offhours_period,
        offhours_seconds=args.offhours_seconds,
        encoder_share=args.encoder_share,
        stagger=args.stagger,
    )
    print(f"machine: {machine()}", flush=True)
    clean = True
    for name in backends_from_argv(args.backends):
        path, ok = run_night(name, shape, args)
        print(f"results: {path}", flush=True)
        clean &= ok
    return 0 if clean else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

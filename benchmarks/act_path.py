"""The act path alone, in one process: dispatcher ticks claim N actions due at one instant, the
executor runs them in batches as a worker would (take-over, state read, write-ahead `sending`, act,
outcome and history), against the simulator over real HTTP. No Celery, no planner: what it prints is
the CPU of onair's own act path per 1,000 actions, to profile and compare (rounds alternate enables
and disables of the same streams, so every action reads and acts).

    .venv/bin/python -m benchmarks.act_path [embedded] [postgres] [--actions N] [--rounds R]

Profile it with py-spy (the simulator is another process, so it stays out of the profile):

    py-spy record --format raw -o act.txt -- .venv/bin/python -m benchmarks.act_path embedded
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from benchmarks.common import SECRET, TOKEN_ID, backend, emit, loadavg, machine, simulator, workspace

# The actions fall due this long after they are planned: the tick claims them ahead and the
# executor waits for the instant, as in production.
DUE_AFTER = timedelta(seconds=1)


def plan_round(engine: Engine, streams: Sequence[str], kind: str, due: datetime, round_no: int) -> None:
    from worker.domain.types import KIND_SEQUENCE, ActionKind, PlannedAction, Source
    from worker.store import ledger
    from worker.store.db import transaction

    action = ActionKind(kind)
    planned = [
        PlannedAction(
            key=f"act-path:{round_no}:{stream}",
            stream_id=stream,
            kind=action,
            source=Source.BROADCAST,
            source_id=index + 1,
            due_at=due,
            deadline_at=due + timedelta(minutes=5),
            reason="act path benchmark",
            sequence=KIND_SEQUENCE[action],
        )
        for index, stream in enumerate(streams)
    ]
    with transaction(engine) as session:
        ledger.apply_plan(session, planned, scope_sources=[], window_start=due - timedelta(days=1), now=due)


def run(name: str, count: int, rounds: int) -> None:
    from worker.config import FastPixSettings, OnairSettings
    from worker.service import dispatcher, executor
    from worker.service.runtime import Runtime
    from worker.store import ledger

    with workspace(f"act-path-{name}") as work, simulator(work) as sim, backend(name, work) as be:
        streams = sim.make_disabled_streams(count)
        settings = OnairSettings(database_url=be.database_url, data_dir=str(work), alert_webhook_url="")
        fastpix = FastPixSettings(api_url=sim.base_url, access_token_id=TOKEN_ID, secret_key=SECRET)
        rt = Runtime(settings, fastpix)
        cpu_total = wall_total = 0.0
        acted = 0
        try:
            for round_no in range(rounds):
                kind = "enable" if round_no % 2 == 0 else "disable"
                plan_round(rt.engine, streams, kind, datetime.now(UTC) + DUE_AFTER, round_no)
                since = sim.last_seq()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                batches: list[Sequence[ledger.Claim]] = []
                done = 0
                while done < count:
                    dispatcher.dispatch_tick(rt, batches.append)
                    while batches:
                        batch = batches.pop(0)
                        attempts = executor.execute_batch(rt, [(c.action_id, c.lease_token) for c in batch])
                        done += len(attempts)
                    time.sleep(0.05)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                calls = sim.calls(since, endpoint=kind)
                acted += len(calls)
                cpu_total += cpu
                wall_total += wall
                figures = f"{count} actions, {len(calls)} acts, cpu {cpu:.2f} s, wall {wall:.2f} s"
                print(f"round {round_no} ({kind}): {figures}")
        finally:
            rt.client.close()
            rt.action_pool.shutdown()
            rt.engine.dispose()
        actions = count * rounds
        emit(
            f"act_path {name}",
            {
                "actions": actions,
                "acts": acted,
                "cpu_s_per_1000": round(cpu_total * 1000 / actions, 2),
                "wall_s": round(wall_total, 1),
                "load": loadavg(),
            },
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*", default=[])
    parser.add_argument("--actions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    for name in args.backends or ["embedded"]:
        run(name, args.actions, args.rounds)


if __name__ == "__main__":
    main()

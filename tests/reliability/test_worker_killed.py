"""Check 1: kill -9 the worker while hundreds of actions are in flight: every action has exactly one
effect, the killed worker's actions run again within 15 s of their instant, and the history shows
each act the killed worker may have sent.

The processes run as shipped: the Procfile's `worker`, `planner` and `beat` on PostgreSQL + Redis
(restarted after the kill, as a process manager would), or `onair run` on the embedded default (its
supervisor restarts the worker). Every setting is at its default: the lease is 10 s, renewed by the
executing worker every 2 s, so the killed worker's claims lapse at most a lease after its last renewal.

A few enables answer 6 s after FastPix did the work (a slow answer): the kill lands while they are in
flight, so their act reached FastPix and no answer was recorded. Their write-ahead `sending` event is
in the history, and the attempt that runs after the kill reports "done by attempt 1 (its worker died
after sending), confirmed by attempt 2".
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.harness import Proc, onair_run_proc, running, wait_for, wait_ticking
from tests.integration.simulator_fixture import Simulator
from tests.reliability.conftest import Engines
from tests.reliability.fleet import (
    Tally,
    disabled_streams,
    enable_rows,
    event_count,
    lateness,
    procfile_procs,
    schedule_enables,
    shipped_scheduler,
    wait_settled,
)

pytestmark = pytest.mark.processes

ACTIONS = 200
SPREAD = timedelta(seconds=10)
IN_DOUBT = 4
# An action held by the killed worker runs again within this long of its instant.
WITHIN = 15.0


@pytest.mark.parametrize("backend", ["postgres+redis", "embedded"])
def test_kill_9_worker_mid_flight_every_action_once_and_soon(
    backend: str, simulator: Simulator, tmp_path: Path, request: pytest.FixtureRequest, engines: Engines
) -> None:
    if backend == "embedded":
        database_url, broker_url = f"sqlite:///{tmp_path}/onair.db", ""
    else:
        database_url = request.getfixturevalue("postgres_url")
        broker_url = request.getfixturevalue("redis_server").url
    assert isinstance(database_url, str) and isinstance(broker_url, str)
    streams = disabled_streams(simulator, ACTIONS)
    engine, env = shipped_scheduler(engines, simulator, tmp_path, database_url, broker_url)
    if backend == "embedded":
        run = onair_run_proc(env, tmp_path)
        procs: list[Proc] = [run]
    else:
        procs = procfile_procs(env, tmp_path)
    # The enables due just before the kill answer 6 s late, after doing the work: in flight at the kill.
    first_due = datetime.now(UTC) + timedelta(seconds=20)
    kill_at = first_due + SPREAD / 2
    step = SPREAD / (ACTIONS - 1)
    slow = [streams[i] for i in range(ACTIONS // 2 - IN_DOUBT - 2, ACTIONS // 2 - 2)]
    for stream in slow:
        simulator.inject_fault("enable", "slow", delay=6.0, count=1, stream_id=stream)
    since = simulator.last_seq()
    with running(*procs) as live:
        wait_ticking(engine, live)
        due = schedule_enables(engine, streams, first_due, SPREAD)
        assert abs((due[slow[-1]] - kill_at).total_seconds()) < 4 * step.total_seconds()
        wait_for("the plan", lambda: len(enable_rows(engine, streams)) == len(streams), 30, live)
        time.sleep(max(0.0, (kill_at - datetime.now(UTC)).total_seconds()))
        # On a loaded machine the acts may run behind their instants: kill once FastPix has done a slow
        # enable whose answer is still 6 s away, so the kill lands with it in flight.
        wait_for(
            "a slow enable in flight",
            lambda: any(simulator.stream(s)["status"] != "disabled" for s in slow),
            20,
            live,
        )
        if backend == "embedded":
            _kill_worker_under(run, engine, [r.id for s, r in enable_rows(engine, slow).items()])
        else:
            procs[0].kill()
        killed_at = datetime.now(UTC)
        landed = len(simulator.calls(since, endpoint="enable"))
        if backend != "embedded":
            time.sleep(1.0)
            procs[0].start()
        wait_settled(engine, streams, live, "the worker's restart")

    tally = Tally.take(
        f"SIGKILL of the worker ({backend}, shipped defaults)", simulator, engine, streams, since
    )
    ids = {s: r.id for s, r in tally.rows.items()}
    expired = event_count(engine, "lease_expired", ids.values())
    late = lateness(tally, due)
    held = [s for s in streams if _had_lease_expire(engine, ids[s])]
    held_late = sorted(late[s] for s in held)
    tally.assert_no_loss_no_double(
        enables_before_kill=landed,
        killed_at=killed_at.strftime("%H:%M:%S.%f")[:-3],
        leases_expired=expired,
        held_by_killed_worker=len(held),
        their_lateness_max=f"{held_late[-1]:.1f}s" if held_late else "-",
        their_lateness_p50=f"{held_late[len(held_late) // 2]:.1f}s" if held_late else "-",
    )
    assert len(tally.exactly_once()) == ACTIONS, "every stream was disabled: each enable must change it once"
    assert 0 < landed < ACTIONS, f"the kill did not land mid-flight ({landed} of {ACTIONS} enables had run)"
    assert held, "the killed worker held no action: the kill missed the window"
    assert max(late.values()) <= WITHIN, f"an enable ran {max(late.values()):.1f} s after its instant"
    # The slow enables the killed worker had sent: in doubt (`onair run` has a second worker, which
    # may have sent some of them and lived).
    in_doubt = 0
    for stream in slow:
        events = _history(engine, ids[stream])
        assert events.count("sending") == 1, f"{stream[:8]}: one act, written ahead: {events}"
        assert [c.endpoint for c in tally.calls[stream]].count("enable") == 1
        if "lease_expired" in events[events.index("sending") :]:
            in_doubt += 1
            assert tally.rows[stream].outcome == (
                "already enabled: done by attempt 1 (its worker died after sending), confirmed by attempt 2"
            ), tally.rows[stream].outcome
        else:
            assert tally.rows[stream].outcome == "enabled", tally.rows[stream].outcome
    assert in_doubt, "the kill caught no slow enable in flight"


def _kill_worker_under(run: Proc, engine: sa.Engine, slow_ids: list[int]) -> None:
    """kill -9 of the `onair run` worker that sent a slow enable (its write-ahead record names its pid),
    else of the first worker: `onair run` starts one worker per CPU, and killing the other one would
    leave no act in doubt. Never the planner or the supervisor."""
    assert run.popen is not None
    found = subprocess.run(
        ["pgrep", "-P", str(run.popen.pid), "-f", "onair-[0-9]+@"],
        capture_output=True,
        text=True,
        check=False,
    )
    workers = [int(p) for p in found.stdout.split()]
    assert workers, "expected the workers under onair run"
    with engine.connect() as conn:
        actors = conn.execute(
            sa.select(sa.text("actor"))
            .select_from(sa.text("action_events"))
            .where(sa.text("event = 'sending'"), sa.column("action_id").in_(slow_ids))
        ).scalars()
        senders = [int(a.rsplit(":", 1)[-1]) for a in actors if a.rsplit(":", 1)[-1].isdigit()]
    target = next((pid for pid in senders if pid in workers), workers[0])
    os.kill(target, signal.SIGKILL)


def _had_lease_expire(engine: sa.Engine, action_id: int) -> bool:
    return "lease_expired" in _history(engine, action_id)


def _history(engine: sa.Engine, action_id: int) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT event FROM action_events WHERE action_id = :a ORDER BY id"), {"a": action_id}
        )
        return [r[0] for r in rows]

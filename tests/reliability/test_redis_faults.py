"""Checks 2 and 3: the broker fails. Each test owns its redis-server (no persistence), so stopping it
loses every message it held, as a restarted production Redis without AOF would.

The processes are the Procfile's (`worker`, which is `onair worker` and its act workers, the `planner`,
`beat`) with the shipped settings, and nothing restarts them, from outside or from `onair worker`'s
supervisor (their pids are compared): each worker must ride out the outage itself. The ledger is the
source of truth: a message lost with Redis only delays its action until its lease runs out (at most
ONAIR_LEASE_SECONDS after its instant) and the dispatcher claims the row again.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.harness import onair_bin, running, wait_for, wait_ticking
from tests.integration.simulator_fixture import Simulator
from tests.reliability.conftest import AlertReceiver, Engines, RedisServer
from tests.reliability.fleet import (
    Tally,
    arrival,
    disabled_streams,
    enable_rows,
    lateness,
    new_broadcast_fires,
    process_tree,
    procfile_procs,
    schedule_enables,
    shipped_scheduler,
    wait_settled,
)

pytestmark = pytest.mark.processes

# Every action runs within this long of its instant, or of Redis's return when it fell due in the
# outage: one lease (10 s) for a message Redis lost, plus a dispatcher tick and the reconnect.
RECOVERY = 15.0


@pytest.mark.parametrize("down_for", [0.0, 3.0], ids=["restarted", "down-3s"])
def test_redis_restarted_or_briefly_down_the_procfile_processes_carry_on(
    down_for: float,
    simulator: Simulator,
    redis_server: RedisServer,
    postgres_url: str,
    tmp_path: Path,
    engines: Engines,
) -> None:
    """Check 2, with the Procfile's processes and no outside restart: Redis comes back empty (at once,
    or after 3 s) in the middle of 200 enables. Every enable lands once, within RECOVERY of its instant
    (or of Redis's return), no process exits, and a broadcast added afterwards fires."""
    streams = disabled_streams(simulator, 200)
    engine, env = shipped_scheduler(engines, simulator, tmp_path, postgres_url, redis_server.url)
    procs = procfile_procs(env, tmp_path)
    since = simulator.last_seq()
    with running(*procs) as running_procs:
        wait_ticking(engine, running_procs)
        pids = [process_tree(p.popen.pid) for p in procs if p.popen]
        first_due = datetime.now(UTC) + timedelta(seconds=12)
        spread = timedelta(seconds=10)
        due = schedule_enables(engine, streams, first_due, spread)
        wait_for("the plan", lambda: len(enable_rows(engine, streams)) == len(streams), 30, running_procs)
        time.sleep(max(0.0, (first_due + spread / 2 - datetime.now(UTC)).total_seconds()))
        landed = len(simulator.calls(since, endpoint="enable"))
        redis_server.restart(down_for=down_for)
        back = datetime.now(UTC)
        wait_settled(engine, streams, running_procs, "the Redis restart", timeout=60)
        after = new_broadcast_fires(engine, simulator, running_procs)
        alive = {p.name: p.alive() for p in procs}
        same = [process_tree(p.popen.pid) for p in procs if p.popen] == pids

    tally = Tally.take(
        f"Redis {'restarted' if not down_for else f'down {down_for:.0f} s'}, empty",
        simulator,
        engine,
        streams,
        since,
    )
    late = lateness(tally, due)
    behind = {
        s: (arrival_at - max(due[s], back)).total_seconds() for s, arrival_at in _arrivals(tally).items()
    }
    worst = max(behind.values())
    tally.assert_no_loss_no_double(
        enables_before_fault=landed,
        max_late=f"{max(late.values()):.1f}s",
        max_after_redis_back=f"{worst:.1f}s",
        new_broadcast_late=f"{after:.2f}s",
        processes_alive=alive,
    )
    assert alive == {"worker": True, "planner": True, "beat": True} and same, f"a process exited: {alive}"
    assert len(tally.exactly_once()) == len(streams)
    assert 0 < landed < len(streams), f"the fault did not land mid-flight ({landed} enables had run)"
    assert worst <= RECOVERY, f"an enable ran {worst:.1f} s after its instant or Redis's return"


def _arrivals(tally: Tally) -> dict[str, datetime]:
    return {
        s: arrival(c)
        for s, log in tally.calls.items()
        for c in log
        if c.endpoint == "enable" and c.status_before != c.status_after
    }


OUTAGE = 30.0
# After Redis returns: kombu's reconnect backoff (up to a few seconds), a beat tick, one claim ahead.
RECOVERY_BOUND = timedelta(seconds=RECOVERY)


def test_redis_down_for_a_long_stretch_worker_stays_and_catches_up(
    simulator: Simulator,
    redis_server: RedisServer,
    postgres_url: str,
    tmp_path: Path,
    engines: Engines,
    alert_receiver: AlertReceiver,
) -> None:
    """Check 3: Redis down for 30 s while actions fall due. The worker and beat processes do not exit
    (broker_connection_max_retries=None), and every action due in the outage runs once, soon after
    Redis returns: late but inside its deadline. While no worker consumes, the watchdog alerts and
    `onair doctor` fails its consumers line; both recover with Redis."""
    streams = disabled_streams(simulator, 40)
    engine, env = shipped_scheduler(engines, simulator, tmp_path, postgres_url, redis_server.url)
    env["ONAIR_ALERT_WEBHOOK_URL"] = alert_receiver.url
    worker, planner, beat = procfile_procs(env, tmp_path)
    since = simulator.last_seq()
    with running(worker, planner, beat) as procs:
        wait_ticking(engine, procs)
        assert worker.popen is not None and beat.popen is not None
        pids = (process_tree(worker.popen.pid), beat.popen.pid)
        # Planned while Redis is up, due while it is down.
        first_due = datetime.now(UTC) + timedelta(seconds=12)
        due = schedule_enables(engine, streams, first_due, timedelta(seconds=15))
        wait_for("the plan", lambda: len(enable_rows(engine, streams)) == len(streams), 30, procs)
        time.sleep(max(0.0, (first_due - timedelta(seconds=4) - datetime.now(UTC)).total_seconds()))
        redis_server.stop()
        time.sleep(OUTAGE)
        survived = {"worker": worker.alive(), "beat": beat.alive()}
        during = _doctor_consumers(env)
        redis_server.start()
        back = datetime.now(UTC)
        wait_settled(engine, streams, procs, "Redis returned", 60)
        assert (process_tree(worker.popen.pid), beat.popen.pid) == pids, "a worker process was restarted"
        after = wait_for("a consumer again", lambda: (d := _doctor_consumers(env))[0] == 0 and d, 30, procs)

    tally = Tally.take(f"Redis down for {OUTAGE:.0f} s", simulator, engine, streams, since)
    enables = [c for s in streams for c in tally.calls[s] if c.endpoint == "enable"]
    latest = max(arrival(c) for c in enables)
    tally.assert_no_loss_no_double(
        processes_alive_through_outage=survived,
        last_enable_after_redis_returned=f"{(latest - back).total_seconds():.1f}s",
    )
    assert survived == {"worker": True, "beat": True}, f"a Celery process exited in the outage: {survived}"
    assert during[0] == 1 and "FAIL consumers  no worker consumed the actions queue" in during[1], during
    assert "consuming the actions queue: onair-" in after[1], after  # `onair worker`'s nodes
    gone = [b for b in alert_receiver.bodies if b.get("event") == "no_consumer"]
    assert len(gone) == 1, alert_receiver.texts()
    assert str(gone[0]["text"]).startswith(
        "onair: no worker consumes the actions queue (consumed nothing for "
    )
    assert len(tally.exactly_once()) == len(streams)
    assert all(due[s] <= back for s in streams), "every action fell due during the outage"
    assert latest - back <= RECOVERY_BOUND, (
        f"due actions ran {(latest - back).total_seconds():.1f} s after Redis returned "
        f"(bound {RECOVERY_BOUND.total_seconds():.0f} s)"
    )


def _doctor_consumers(env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [onair_bin(), "doctor", "--only", "consumers"], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stdout

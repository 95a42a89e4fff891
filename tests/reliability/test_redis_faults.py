"""Checks 2 and 3: the broker fails. Each test owns its redis-server (no persistence), so stopping it
loses every message it held, as a restarted production Redis without AOF would.

The ledger is the source of truth: a message lost with Redis only delays its action until the lease
runs out and the dispatcher claims the row again.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.harness import celery_proc, onair_run_proc, running, wait_for, wait_ticking
from tests.integration.simulator_fixture import Simulator
from tests.reliability.conftest import Engines, RedisServer
from tests.reliability.fleet import (
    Tally,
    arrival,
    disabled_streams,
    enable_rows,
    migrated_scheduler,
    schedule_enables,
    wait_settled,
)

pytestmark = pytest.mark.processes

LEASE = "6"


def test_redis_restarted_without_persistence_under_onair_run(
    simulator: Simulator, redis_server: RedisServer, postgres_url: str, tmp_path: Path, engines: Engines
) -> None:
    """Check 2, through `onair run` (what users run): whatever Celery's worker or beat does when Redis
    comes back empty, every action completes once."""
    streams = disabled_streams(simulator, 120)
    engine, env = migrated_scheduler(
        engines, simulator, tmp_path, postgres_url, redis_server.url, ONAIR_LEASE_SECONDS=LEASE
    )
    run = onair_run_proc(env, tmp_path)
    since = simulator.last_seq()
    with running(run) as procs:
        wait_ticking(engine, procs)
        first_due = datetime.now(UTC) + timedelta(seconds=3)
        spread = timedelta(seconds=10)
        schedule_enables(engine, streams, first_due, spread)
        time.sleep(max(0.0, (first_due + spread / 2 - datetime.now(UTC)).total_seconds()))
        landed = len(simulator.calls(since, endpoint="enable"))
        redis_server.restart(down_for=1.0)
        wait_settled(engine, streams, procs, "the Redis restart")
        restarts = run.tail(200_000).count("exited with")

    tally = Tally.take("Redis restarted empty (onair run)", simulator, engine, streams, since)
    tally.assert_no_loss_no_double(enables_before_restart=landed, celery_processes_restarted=restarts)
    assert len(tally.exactly_once()) == len(streams)
    assert 0 < landed < len(streams), f"the restart did not land mid-flight ({landed} enables had run)"


OUTAGE = 30.0
# After Redis returns: kombu's reconnect backoff (up to a few seconds), a beat tick, one claim ahead.
RECOVERY_BOUND = timedelta(seconds=12)


def test_redis_down_for_a_long_stretch_worker_stays_and_catches_up(
    simulator: Simulator, redis_server: RedisServer, postgres_url: str, tmp_path: Path, engines: Engines
) -> None:
    """Check 3: Redis down for 30 s while actions fall due. The worker and beat processes do not exit
    (broker_connection_max_retries=None), and every action due in the outage runs once, soon after
    Redis returns: late but inside its deadline."""
    streams = disabled_streams(simulator, 40)
    engine, env = migrated_scheduler(
        engines, simulator, tmp_path, postgres_url, redis_server.url, ONAIR_LEASE_SECONDS=LEASE
    )
    worker, beat = celery_proc("worker", env, tmp_path), celery_proc("beat", env, tmp_path)
    since = simulator.last_seq()
    with running(worker, beat) as procs:
        wait_ticking(engine, procs)
        assert worker.popen is not None and beat.popen is not None
        pids = (worker.popen.pid, beat.popen.pid)
        # Planned while Redis is up, due while it is down.
        first_due = datetime.now(UTC) + timedelta(seconds=6)
        due = schedule_enables(engine, streams, first_due, timedelta(seconds=15))
        wait_for("the plan", lambda: len(enable_rows(engine, streams)) == len(streams), 15, procs)
        redis_server.stop()
        time.sleep(OUTAGE)
        survived = {"worker": worker.alive(), "beat": beat.alive()}
        redis_server.start()
        back = datetime.now(UTC)
        wait_settled(engine, streams, procs, "Redis returned", 60)
        assert (worker.popen.pid, beat.popen.pid) == pids

    tally = Tally.take(f"Redis down for {OUTAGE:.0f} s", simulator, engine, streams, since)
    enables = [c for s in streams for c in tally.calls[s] if c.endpoint == "enable"]
    latest = max(arrival(c) for c in enables)
    tally.assert_no_loss_no_double(
        processes_alive_through_outage=survived,
        last_enable_after_redis_returned=f"{(latest - back).total_seconds():.1f}s",
    )
    assert survived == {"worker": True, "beat": True}, f"a Celery process exited in the outage: {survived}"
    assert len(tally.exactly_once()) == len(streams)
    assert all(due[s] <= back for s in streams), "every action fell due during the outage"
    assert latest - back <= RECOVERY_BOUND, (
        f"due actions ran {(latest - back).total_seconds():.1f} s after Redis returned "
        f"(bound {RECOVERY_BOUND.total_seconds():.0f} s)"
    )

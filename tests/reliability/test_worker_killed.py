"""Check 1: kill -9 the worker while hundreds of actions are in flight, restart it: every action has
exactly one effect.

On Redis a killed worker's ETA messages stay unacknowledged (kombu would redeliver them only after
the 300 s visibility timeout); with the embedded folder broker they were acknowledged on fetch and are
gone. Either way the ledger's lease (here 6 s) expires, the dispatcher claims the rows again, and
check-then-act makes a re-run of an action whose call already landed a no-op ("already enabled").
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.harness import celery_proc, running, wait_ticking
from tests.integration.simulator_fixture import Simulator
from tests.reliability.conftest import Engines
from tests.reliability.fleet import (
    Tally,
    disabled_streams,
    event_count,
    migrated_scheduler,
    schedule_enables,
    wait_settled,
)

pytestmark = pytest.mark.processes

LEASE = "6"


@pytest.mark.parametrize(
    ("backend", "actions"), [("postgres+redis", 300), ("embedded", 150)], ids=["postgres+redis", "embedded"]
)
def test_kill_9_worker_mid_flight_every_action_exactly_once(
    backend: str,
    actions: int,
    simulator: Simulator,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    engines: Engines,
) -> None:
    if backend == "embedded":
        database_url, broker_url = f"sqlite:///{tmp_path}/onair.db", ""
    else:
        database_url = request.getfixturevalue("postgres_url")
        broker_url = request.getfixturevalue("redis_server").url
    assert isinstance(database_url, str) and isinstance(broker_url, str)
    streams = disabled_streams(simulator, actions)
    engine, env = migrated_scheduler(
        engines, simulator, tmp_path, database_url, broker_url, ONAIR_LEASE_SECONDS=LEASE
    )
    worker, beat = celery_proc("worker", env, tmp_path), celery_proc("beat", env, tmp_path)
    since = simulator.last_seq()
    with running(worker, beat) as procs:
        wait_ticking(engine, procs)
        first_due = datetime.now(UTC) + timedelta(seconds=3)
        spread = timedelta(seconds=10)
        schedule_enables(engine, streams, first_due, spread)
        # Mid-way: about half the enables have landed, the rest are claimed, in the broker or ahead.
        time.sleep(max(0.0, (first_due + spread / 2 - datetime.now(UTC)).total_seconds()))
        worker.kill()
        killed_at = datetime.now(UTC)
        landed = len(simulator.calls(since, endpoint="enable"))
        time.sleep(1.0)
        worker.start()
        wait_settled(engine, streams, procs, "the worker's restart")

    tally = Tally.take(f"SIGKILL of the worker ({backend})", simulator, engine, streams, since)
    ids = [r.id for r in tally.rows.values()]
    expired = event_count(engine, "lease_expired", ids)
    tally.assert_no_loss_no_double(
        enables_before_kill=landed,
        killed_at=killed_at.strftime("%H:%M:%S.%f")[:-3],
        leases_expired=expired,
    )
    assert len(tally.exactly_once()) == actions, "every stream was disabled: each enable must change it once"
    assert 0 < landed < actions, f"the kill did not land mid-flight ({landed} of {actions} enables had run)"

"""Checks 4 and 9: several beats and workers at once, all claiming from one ledger, through the real
`onair.dispatch` task path. Celery's own answer to two beats is "run only one" (each would send
every periodic task twice); onair's dispatch tick is safe to run concurrently because a row is
claimed by a compare-and-set (PostgreSQL: an advisory lock and FOR UPDATE SKIP LOCKED; SQLite:
BEGIN IMMEDIATE), so every row is claimed once and every enable has one effect.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.harness import (
    Proc,
    celery_proc,
    migrate,
    onair_run_proc,
    running,
    scheduler_env,
    wait_for,
    wait_ticking,
)
from tests.integration.simulator_fixture import Simulator
from tests.reliability.conftest import Engines
from tests.reliability.fleet import Tally, disabled_streams, event_count, schedule_enables, wait_settled

pytestmark = pytest.mark.processes


@pytest.mark.parametrize("backend", ["postgres+redis", "sqlite"])
def test_two_beats_and_two_workers_claim_each_row_once(
    backend: str, simulator: Simulator, tmp_path: Path, request: pytest.FixtureRequest, engines: Engines
) -> None:
    streams = disabled_streams(simulator, 100)
    procs: list[Proc]
    if backend == "sqlite":
        # Two `onair run`s (each its own beat, worker and embedded broker) on one SQLite database.
        database_url = f"sqlite:///{tmp_path}/onair.db"
        migrate(database_url)
        procs = [
            onair_run_proc(
                scheduler_env(
                    database_url=database_url, data_dir=tmp_path / f"data{n}", fastpix=simulator.env
                ),
                tmp_path,
                suffix=str(n),
            )
            for n in (1, 2)
        ]
        injected = "two onair run on one SQLite database"
    else:
        database_url = request.getfixturevalue("postgres_url")
        broker_url = request.getfixturevalue("redis_server").url
        migrate(database_url)
        env = scheduler_env(
            database_url=database_url,
            broker_url=broker_url,
            data_dir=tmp_path / "data",
            fastpix=simulator.env,
        )
        roles = ("worker", "beat")
        procs = [celery_proc(role, env, tmp_path, suffix=str(n)) for role in roles for n in (1, 2)]
        injected = "two beats and two workers on PostgreSQL + Redis"
    engine = engines(database_url)
    workers = [p for p in procs if "beat" not in p.name]
    since = simulator.last_seq()
    with running(*procs) as started:
        wait_ticking(engine, started)
        # Both schedulers up before anything falls due, so each has a fair chance to claim.
        wait_for(
            "every worker to be ready", lambda: all("ready." in p.tail(200_000) for p in workers), 60, started
        )
        schedule_enables(engine, streams, datetime.now(UTC) + timedelta(seconds=3), timedelta(seconds=8))
        wait_settled(engine, streams, started, "the due window", 60)
        takers = {p.name: p.tail(1_000_000).count(": enabled") for p in started}

    tally = Tally.take(injected, simulator, engine, streams, since)
    ids = [r.id for r in tally.rows.values()]
    claims, stale = event_count(engine, "claimed", ids), event_count(engine, "stale_write_rejected", ids)
    tally.assert_no_loss_no_double(claims=claims, stale_writes_rejected=stale, enables_by_process=takers)
    assert len(tally.exactly_once()) == len(streams)
    assert claims == len(streams), f"{claims} claims for {len(streams)} rows: a row was claimed twice"
    if backend == "sqlite":
        assert all(takers.values()), f"both schedulers should have done some of the work: {takers}"

"""A recurring broadcast end to end: `onair broadcast add --cron` against a real `onair run` (embedded
SQLite and broker) and the FastPix simulator over HTTP. Two occurrences, each enabled once at
start - lead and finished once at its end (the second shows the series goes on by itself).

Cron has minute granularity, so two occurrences take a little over a minute ('* * * * *', 20 s
each, 5 s lead); the series is added once the scheduler is ticking and the next minute is at least
30 s away, so the first enable is never late because the `onair broadcast add` process was slow.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.harness import (
    migrate,
    onair_bin,
    onair_run_proc,
    running,
    scalar,
    scheduler_env,
    wait_for,
    wait_ticking,
)
from tests.integration.simulator_fixture import Simulator
from worker.fastpix.client import FastPixClient
from worker.simulator.control import CallRecord
from worker.store.db import make_engine, transaction
from worker.store.models import Action, Broadcast

pytestmark = pytest.mark.processes

ON_TIME = timedelta(seconds=2)
LEAD = timedelta(seconds=5)
LENGTH = timedelta(seconds=20)
OCCURRENCES = 2


def arrival(call: CallRecord) -> datetime:
    return datetime.fromisoformat(call.time).astimezone(UTC)


def assert_on_time(call: CallRecord, due: datetime, what: str) -> None:
    late = arrival(call) - due
    assert timedelta(0) <= late <= ON_TIME, f"{what}: arrived {late.total_seconds():+.3f} s from due {due}"
    assert call.http_status == 200, f"{what}: {call}"


def test_a_recurring_broadcast_drives_each_occurrence(simulator: Simulator, tmp_path: Path) -> None:
    simulator.reset()
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        stream = api.create_stream().stream_id
        api.disable_stream(stream)
    url = f"sqlite:///{tmp_path}/onair.db"
    migrate(url)
    env = scheduler_env(database_url=url, data_dir=tmp_path / "data", fastpix=simulator.env)
    engine = make_engine(url)

    with running(onair_run_proc(env, tmp_path)) as procs:
        wait_ticking(engine, procs)
        now = datetime.now(UTC)
        boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if boundary - now < timedelta(seconds=30):
            time.sleep((boundary - now).total_seconds() + 0.5)
        argv = ["broadcast", "add", "--stream", stream, "--cron", "* * * * *", "--tz", "UTC", "--duration"]
        argv += ["20s", "--lead", "5s", "--count", str(OCCURRENCES), "--title", "Minutely"]
        added = subprocess.run(
            [onair_bin(), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.returncode == 0, added.stdout + added.stderr
        assert added.stdout.startswith("series 1 added:"), added.stdout
        starts = occurrence_starts(engine)
        assert len(starts) == OCCURRENCES
        assert [b - a for a, b in itertools.pairwise(starts)] == [timedelta(minutes=1)] * (OCCURRENCES - 1)

        with FastPixClient(simulator.base_url, *simulator.credentials) as api:
            for k, start in enumerate(starts, 1):
                wait_for(
                    f"enable #{k}",
                    lambda k=k: len(simulator.calls(stream_id=stream, endpoint="enable")) >= k,
                    timeout=(start - datetime.now(UTC)).total_seconds() + 10,
                    procs=procs,
                )
                simulator.connect(stream, delay=0)  # the encoder goes live
                wait_for(
                    f"finish #{k}",
                    lambda k=k: len(simulator.calls(stream_id=stream, endpoint="finish")) >= k,
                    timeout=(start + LENGTH - datetime.now(UTC)).total_seconds() + 10,
                    procs=procs,
                )
                # Between occurrences the stream is switched off, so each enable is a real call.
                api.disable_stream(stream)
        wait_for(
            "the ledger to settle",
            lambda: scalar(engine, "SELECT count(*) FROM actions WHERE state IN ('pending', 'claimed')") == 0,
            timeout=10,
            procs=procs,
        )

    enables = simulator.calls(stream_id=stream, endpoint="enable")
    finishes = simulator.calls(stream_id=stream, endpoint="finish")
    assert len(enables) == OCCURRENCES and len(finishes) == OCCURRENCES
    lateness = [
        (
            round((arrival(e) - (s - LEAD)).total_seconds(), 3),
            round((arrival(f) - (s + LENGTH)).total_seconds(), 3),
        )
        for e, f, s in zip(enables, finishes, starts, strict=True)
    ]
    for k, start in enumerate(starts):
        assert_on_time(enables[k], start - LEAD, f"enable of occurrence {k + 1} (all: {lateness})")
        assert_on_time(finishes[k], start + LENGTH, f"finish of occurrence {k + 1} (all: {lateness})")
    assert ledger(engine) == [("enable", "succeeded"), ("finish", "succeeded")] * OCCURRENCES
    engine.dispose()


def occurrence_starts(engine: Engine) -> list[datetime]:
    with transaction(engine, immediate=False) as session:
        return list(
            session.scalars(
                select(Broadcast.starts_at)
                .where(Broadcast.series_id.is_not(None), Broadcast.cancelled_at.is_(None))
                .order_by(Broadcast.starts_at)
            )
        )


def ledger(engine: Engine) -> list[tuple[str, str]]:
    with transaction(engine, immediate=False) as session:
        rows = session.execute(select(Action.kind, Action.state).order_by(Action.due_at, Action.sequence))
        return [(kind, state) for kind, state in rows]

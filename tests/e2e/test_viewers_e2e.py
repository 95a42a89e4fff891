"""Viewer counts end to end on the embedded default: a real `onair run` (workers, the planner's worker
that serves the viewers queue, beat), a real `onair api` receiving the simulator's signed webhooks, and
the simulator (a real process) reporting viewers. With ONAIR_VIEWERS_EVERY=10: no viewer-count call
while the stream is enabled but not live, one about every 10 s once its encoder is live, none after
the slot's end, and `onair report` shows the peak and the average.
"""

from __future__ import annotations

import base64
import json
import math
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.harness import migrate, onair_bin, onair_run_proc, running, scheduler_env, wait_for, wait_ticking
from tests.integration.api_support import free_port, onair_api
from tests.integration.simulator_fixture import Simulator
from tests.reliability.fleet import sql_time
from worker.fastpix.client import FastPixClient
from worker.store.db import make_engine

pytestmark = pytest.mark.processes

SECRET = base64.b64encode(b"onair-e2e-viewers-signing-key").decode()
EVERY = 10.0
SLOT = timedelta(seconds=70)


def add_broadcast(engine: sa.Engine, stream: str, title: str, start: datetime, end: datetime) -> int:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds, title)"
                " VALUES (:s, :a, :b, 0, :t)"
            ),
            {"s": stream, "a": sql_time(engine, start), "b": sql_time(engine, end), "t": title},
        )
        return int(conn.execute(sa.text("SELECT max(id) FROM broadcasts")).scalar_one())


def known_active(engine: sa.Engine, stream: str) -> datetime | None:
    """When onair learnt that the stream is active (now, if it knows): None while it does not."""
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM streams WHERE stream_id = :s"), {"s": stream}
        ).scalar()
    return datetime.now(UTC) if status == "active" else None


def sample_times(simulator: Simulator, stream: str) -> list[datetime]:
    return [datetime.fromisoformat(c.time) for c in simulator.calls(stream_id=stream, endpoint="viewers")]


def test_a_live_slot_is_sampled_every_interval_and_the_report_shows_its_peak(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.reset()
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        stream = api.create_stream(metadata={"name": "Studio V"}).stream_id
    database_url = f"sqlite:///{tmp_path}/onair.db"
    migrate(database_url)
    engine = make_engine(database_url)
    port = free_port()
    with onair_api(database_url, port, FASTPIX_WEBHOOK_SECRET=SECRET):
        simulator.configure_webhooks(f"http://127.0.0.1:{port}/webhooks/fastpix", SECRET)
        env = scheduler_env(
            database_url=database_url,
            data_dir=tmp_path / "data",
            fastpix=simulator.env,
            ONAIR_VIEWERS_EVERY=str(EVERY),
            ONAIR_SYNC_SECONDS="5",
            TZ="UTC",
        )
        try:
            with running(onair_run_proc(env, tmp_path)) as procs:
                wait_ticking(engine, procs)
                start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
                end = start + SLOT
                show = add_broadcast(engine, stream, "Evening show", start, end)
                simulator.set_viewers(stream, 120)

                # Enabled at its start, but no encoder: not live, so never sampled.
                wait_for("the enable", lambda: simulator.stream(stream)["status"] == "idle", 30, procs)
                wait_for("a while in the slot", lambda: datetime.now(UTC) > start + timedelta(seconds=6), 30)
                assert sample_times(simulator, stream) == []

                connected = datetime.now(UTC)
                simulator.connect(stream)
                # onair learns it from the webhook (or, were it lost, from the stream sync every 5 s).
                known = wait_for("onair to know it is live", lambda: known_active(engine, stream), 30, procs)
                [first] = wait_for("the first sample", lambda: sample_times(simulator, stream), 15, procs)
                assert connected < first and first - known < timedelta(seconds=10), (connected, known, first)
                # The peak: a sample taken after the count went up to 340 (the next period's).
                raised = datetime.now(UTC)
                simulator.set_viewers(stream, 340)
                wait_for(
                    "a sample of the peak",
                    lambda: any(t > raised for t in sample_times(simulator, stream)),
                    30,
                    procs,
                )
                simulator.set_viewers(stream, 80)
                wait_for("the end of the slot", lambda: datetime.now(UTC) > end + timedelta(seconds=12), 90)

                times = sample_times(simulator, stream)
                # Stopped at the slot's end: every call left within the slot.
                assert all(connected < t < end for t in times), (connected, end, times)
                # One per 10 s period of the slot (counted from its start) from the first on: never two
                # in one period, and at least one in each of the later ones but for a slow look.
                assert 3 <= len(times) <= math.ceil((end - first).total_seconds() / EVERY), times

                done = subprocess.run(
                    [onair_bin(), "report", "--since", "10m", "--json"],
                    env=env,
                    capture_output=True,
                    check=True,
                )
                [line] = [b for b in json.loads(done.stdout)["broadcasts"] if b["id"] == show]
                viewers = line["viewers"]
                assert viewers["peak"] == 340 and viewers["samples"] == len(times), viewers
                assert viewers["failures"] == 0
                assert 80 <= viewers["average"] <= 340
                text = subprocess.run(
                    [onair_bin(), "report", "--since", "10m"],
                    env=env,
                    capture_output=True,
                    check=True,
                    text=True,
                ).stdout
                assert f"viewers peak 340 at {viewers['peak_at'][11:19]}, average" in text, text
        finally:
            simulator.reset()
            engine.dispose()

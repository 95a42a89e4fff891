"""Broadcast health end to end: the simulator (a real process) sends its signed FastPix webhooks to a
real `onair api` process, and a real `onair run` (worker, beat, watchdog) raises the alerts to a real
webhook endpoint. A broadcast whose encoder never connects raises exactly one no-signal alert within
ONAIR_NO_SIGNAL_GRACE + 10 s (the grace shortened to 10 s: this test is about that setting; the alert's
own instant is held to that bound, its delivery to the endpoint gets a margin for a loaded machine);
one whose encoder drops mid-slot raises signal lost, then recovered when it is back, and the stream's
webhooks show in `onair history --stream`. On the embedded default
(SQLite, `onair run`) and on PostgreSQL + Redis with two Celery workers, whose two watchdogs both
notice every change: each alert still goes out once.
"""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from tests.harness import (
    Proc,
    celery_proc,
    migrate,
    onair_bin,
    onair_run_proc,
    running,
    scheduler_env,
    wait_for,
    wait_ticking,
)
from tests.integration.api_support import free_port, onair_api
from tests.integration.simulator_fixture import Simulator
from tests.integration.webhook_receiver import Receiver, webhook_receiver
from tests.reliability.fleet import sql_time
from worker.fastpix.client import FastPixClient
from worker.store.db import make_engine

pytestmark = pytest.mark.processes

SECRET = base64.b64encode(b"onair-e2e-webhook-signing-key").decode()
GRACE = 10.0
# When the alert must be raised: the grace, then the watchdog's next round (every 5 s, shipped).
NOTICE = GRACE + 10.0
# Its post to the alert endpoint comes from a background thread, on a machine other tests load too.
DELIVERY = 10.0


def alerts_of(receiver: Receiver, event: str, broadcast_id: int) -> list[dict[str, Any]]:
    return [p for p in receiver.of_event(event) if p.get("broadcast_id") == broadcast_id]


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


@pytest.fixture(params=["embedded", "postgres+redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(database URL, broker URL)."""
    if request.param == "embedded":
        return f"sqlite:///{tmp_path}/onair.db", ""
    redis_url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(redis_url).flushdb()
    return request.getfixturevalue("postgres_url"), redis_url


def scheduler(env: dict[str, str], log_dir: Path) -> list[Proc]:
    if not env["ONAIR_BROKER_URL"]:
        return [onair_run_proc(env, log_dir)]
    return [
        celery_proc("worker", env, log_dir),
        celery_proc("worker", env, log_dir, "2"),
        celery_proc("beat", env, log_dir),
    ]


def test_no_signal_and_a_dropped_encoder_alert_once_each(
    backend: tuple[str, str], simulator: Simulator, tmp_path: Path
) -> None:
    database_url, broker_url = backend
    simulator.reset()
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        silent = api.create_stream(metadata={"name": "Studio B"}).stream_id
        dropping = api.create_stream(metadata={"name": "Studio C"}).stream_id
    migrate(database_url)
    engine = make_engine(database_url)
    port = free_port()
    with webhook_receiver() as receiver, onair_api(database_url, port, FASTPIX_WEBHOOK_SECRET=SECRET):
        simulator.configure_webhooks(f"http://127.0.0.1:{port}/webhooks/fastpix", SECRET)
        env = scheduler_env(
            database_url=database_url,
            broker_url=broker_url,
            data_dir=tmp_path / "data",
            fastpix=simulator.env,
            ONAIR_NO_SIGNAL_GRACE=str(GRACE),
            ONAIR_ALERT_WEBHOOK_URL=receiver.url,
            TZ="UTC",
        )
        try:
            with running(*scheduler(env, tmp_path)) as procs:
                wait_ticking(engine, procs)
                start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
                end = start + timedelta(minutes=3)
                quiet = add_broadcast(engine, silent, "Evening show", start, end)
                live = add_broadcast(engine, dropping, "Late show", start, end)
                simulator.connect(dropping)  # live before its start: no alert for it

                [alert] = wait_for(
                    "the no-signal alert",
                    lambda: alerts_of(receiver, "no_signal", quiet),
                    NOTICE + DELIVERY + 5,
                    procs,
                )
                raised = datetime.fromisoformat(alert["at"]) - start
                assert timedelta(seconds=GRACE) <= raised <= timedelta(seconds=NOTICE), raised
                delivered = datetime.fromtimestamp(alert["_at"], UTC) - start
                assert delivered <= timedelta(seconds=NOTICE + DELIVERY), delivered
                assert alert["text"].startswith(
                    f"onair: no signal on Studio B for 'Evening show', started {start:%H:%M}, "
                ), alert["text"]
                assert alert["stream_id"] == silent

                simulator.disconnect(dropping, reconnect_window_override=1)
                [lost] = wait_for("signal lost", lambda: alerts_of(receiver, "signal_lost", live), 30, procs)
                simulator.connect(dropping)
                [back] = wait_for(
                    "signal recovered", lambda: alerts_of(receiver, "signal_recovered", live), 30, procs
                )
                assert lost["signal_at"] < back["signal_at"]
                assert lost["text"].startswith("onair: signal lost on Studio C during 'Late show'"), lost[
                    "text"
                ]
                assert back["text"].startswith("onair: signal back on Studio C for 'Late show'"), back["text"]

                # Two more watchdog rounds: nothing is raised twice, and the live one never had no signal.
                wait_for(
                    "two more rounds", lambda: datetime.now(UTC) > start + timedelta(seconds=NOTICE + 10), 30
                )
                assert len(alerts_of(receiver, "no_signal", quiet)) == 1
                assert alerts_of(receiver, "no_signal", live) == []
                assert len(alerts_of(receiver, "signal_lost", live)) == 1
                assert len(alerts_of(receiver, "signal_recovered", live)) == 1
                assert alerts_of(receiver, "signal_lost", quiet) == []

                shown = subprocess.run(
                    [onair_bin(), "broadcast", "list", "--json"], env=env, capture_output=True, check=True
                )
                outcomes = {b["id"]: (b["outcome"], b["live_minutes"]) for b in json.loads(shown.stdout)}
                assert outcomes[quiet] == ("no signal", 0.0)
                assert outcomes[live][0] == "live" and outcomes[live][1] is not None

                # What FastPix said about the dropping stream, as the receiver stored it.
                history = subprocess.run(
                    [onair_bin(), "history", "--stream", dropping], env=env, capture_output=True, check=True
                ).stdout.decode()
                for event in ("connected", "active", "disconnected"):
                    assert f"video.live_stream.{event}" in history, history
        finally:
            simulator.reset()
            engine.dispose()

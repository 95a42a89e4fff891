"""Checks 7, 8 and 10: the FastPix API misbehaves, the simulator injects it, real processes run it.

* 7: hangs past the read timeout, drops the connection (before or after doing the work), answers
  500/503/524, or 429 with Retry-After: retries wait at least what the server asked, stop at the
  deadline, and the stream changes once.
* 8: permanent refusals (400, 401 bad credentials, 404 stream gone, 422): one call, no retry, the
  API's message recorded, an alert posted.
* 10: a worker that stops renewing its lease (frozen) loses the action to another worker, whose
  outcome stands and names the frozen worker's in-doubt act; its late write is refused
  (stale_write_rejected). A live worker keeps its lease through a slow call.

400 and 422 are injected as simulator faults on an otherwise valid enable.
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.harness import celery_proc, running, wait_for, wait_ticking
from tests.integration.simulator_fixture import Simulator
from tests.reliability.conftest import AlertReceiver, Engines, RedisServer
from tests.reliability.fleet import (
    Tally,
    arrival,
    disabled_streams,
    enable_rows,
    event_count,
    migrated_scheduler,
    procfile_procs,
    schedule_enables,
    shipped_scheduler,
    wait_settled,
)
from worker.fastpix.client import FastPixClient

pytestmark = pytest.mark.processes

READ_TIMEOUT = 2.0
RETRY_AFTER = 3


def test_hangs_drops_5xx_524_429_retry_within_deadline_and_take_effect_once(
    simulator: Simulator,
    redis_server: RedisServer,
    postgres_url: str,
    tmp_path: Path,
    engines: Engines,
    alert_receiver: AlertReceiver,
) -> None:
    names = [
        "hang",
        "drop",
        "drop_after_work",
        "503x2",
        "524",
        "500_on_read",
        "429",
        "429_past_deadline",
        "503_until_deadline",
        "404_gone",
        "400_refused",
        "422_refused",
    ]
    ids = dict(zip(names, disabled_streams(simulator, len(names)), strict=True))
    faults = {
        "hang": dict(endpoint="enable", kind="slow", delay=READ_TIMEOUT + 2, count=1),
        "drop": dict(endpoint="enable", kind="drop", count=1),
        "drop_after_work": dict(endpoint="enable", kind="drop", apply_effect=True, count=1),
        "503x2": dict(endpoint="enable", kind="503", count=2),
        "524": dict(endpoint="enable", kind="524", count=1),
        "500_on_read": dict(endpoint="get", kind="500", count=1),
        "429": dict(endpoint="enable", kind="429", retry_after=RETRY_AFTER, count=1),
        "429_past_deadline": dict(endpoint="enable", kind="429", retry_after=120, count=1),
        "503_until_deadline": dict(endpoint="enable", kind="503", fraction=1.0),
        "400_refused": dict(endpoint="enable", kind="400", count=1),
        "422_refused": dict(endpoint="enable", kind="422", count=1),
    }
    for name, spec in faults.items():
        simulator.inject_fault(stream_id=ids[name], **spec)  # type: ignore[arg-type]
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        api.delete_stream(ids["404_gone"])

    engine, env = migrated_scheduler(
        engines,
        simulator,
        tmp_path,
        postgres_url,
        redis_server.url,
        FASTPIX_READ_TIMEOUT=str(READ_TIMEOUT),
        ONAIR_ALERT_WEBHOOK_URL=alert_receiver.url,
    )
    since = simulator.last_seq()
    streams = list(ids.values())
    with running(celery_proc("worker", env, tmp_path), celery_proc("beat", env, tmp_path)) as procs:
        wait_ticking(engine, procs)
        first_due = datetime.now(UTC) + timedelta(seconds=3)
        short = {"429_past_deadline": timedelta(seconds=30), "503_until_deadline": timedelta(seconds=8)}
        for name, stream in ids.items():
            schedule_enables(
                engine, [stream], first_due, timedelta(0), slot=short.get(name, timedelta(minutes=30))
            )
        wait_settled(engine, streams, procs, "the faults", 60)
        # The simulator logs the held call when its late answer goes out, after the client gave up
        # and the retry found the stream already enabled: that can be after the ledger settled.
        wait_for(
            "the held call's late answer",
            lambda: simulator.calls(since, stream_id=ids["hang"], endpoint="enable"),
            10,
            procs,
        )
        alerted_for = ("429_past_deadline", "503_until_deadline", "404_gone", "400_refused", "422_refused")
        # Alerts are posted by a background sender: give it a moment.
        wait_for(
            "the alerts",
            lambda: all(ids[n] in " ".join(alert_receiver.texts()) for n in alerted_for),
            15,
            procs,
        )

    tally = Tally.take("API faults (hang, drop, 5xx, 524, 429)", simulator, engine, streams, since)
    calls = {name: tally.calls[ids[name]] for name in names}
    rows = {name: tally.rows[ids[name]] for name in names}
    enables = {name: [c for c in calls[name] if c.endpoint == "enable"] for name in names}

    refused = next(c for c in calls["429"] if c.http_status == 429)
    after = [c for c in calls["429"] if c.seq > refused.seq]
    waited = (arrival(after[0]) - arrival(refused)).total_seconds()
    last_try = max(arrival(c) for c in enables["503_until_deadline"])
    deadline = rows["503_until_deadline"].deadline_at
    tally.assert_no_loss_no_double(
        enable_calls={n: len(e) for n, e in enables.items()},
        wait_after_429=f"{waited:.2f}s",
        retries_until_deadline=len(enables["503_until_deadline"]),
    )
    for name in ("hang", "drop", "drop_after_work", "503x2", "524", "500_on_read", "429"):
        assert tally.effects[ids[name]] == 1 and rows[name].state == "succeeded", f"{name}: {rows[name]}"
    # The server did the work but its answer was lost: the retry reads the stream and changes nothing.
    assert len(enables["drop_after_work"]) == 1 and rows["drop_after_work"].outcome == "already enabled"
    assert len(enables["hang"]) == 1 and rows["hang"].outcome == "already enabled"
    assert len(enables["503x2"]) == 3 and len(enables["drop"]) == 2
    assert waited >= RETRY_AFTER - 0.05, (
        f"the retry came {waited:.2f} s after a 429 asking for {RETRY_AFTER} s"
    )
    assert len(enables["429_past_deadline"]) == 1, "a Retry-After past the deadline must not be waited out"
    assert rows["429_past_deadline"].state == "failed"
    assert "120" in (rows["429_past_deadline"].outcome or ""), rows["429_past_deadline"]
    assert len(enables["503_until_deadline"]) >= 2, "503s are retried"
    assert last_try < deadline, f"a retry at {last_try} went past the deadline {deadline}"
    assert rows["503_until_deadline"].state in ("failed", "missed")
    assert [(c.endpoint, c.http_status) for c in calls["404_gone"]] == [("get", 404)], "404: one call"
    assert rows["404_gone"].state == "failed" and "not found" in (rows["404_gone"].last_error or "")
    for name, message in (("400_refused", "bad request"), ("422_refused", "payload validation failed")):
        assert [c.endpoint for c in calls[name]] == ["get", "enable"], f"{name}: one refused call, no retry"
        assert rows[name].state == "failed" and message in (rows[name].last_error or ""), rows[name]
    alerted = " ".join(alert_receiver.texts())
    for name in alerted_for:
        assert ids[name] in alerted, f"no alert for {name}: {alert_receiver.texts()}"


def test_bad_credentials_fail_once_with_the_api_message_and_an_alert(
    simulator: Simulator,
    redis_server: RedisServer,
    postgres_url: str,
    tmp_path: Path,
    engines: Engines,
    alert_receiver: AlertReceiver,
) -> None:
    """Check 8 with 401: every action is refused at its first call; none is retried."""
    streams = disabled_streams(simulator, 5)
    engine, env = migrated_scheduler(
        engines,
        simulator,
        tmp_path,
        postgres_url,
        redis_server.url,
        fastpix={**simulator.env, "FASTPIX_SECRET_KEY": "not-the-secret"},
        ONAIR_ALERT_WEBHOOK_URL=alert_receiver.url,
    )
    since = simulator.last_seq()
    with running(celery_proc("worker", env, tmp_path), celery_proc("beat", env, tmp_path)) as procs:
        wait_ticking(engine, procs)
        schedule_enables(engine, streams, datetime.now(UTC) + timedelta(seconds=2), timedelta(seconds=1))
        wait_settled(engine, streams, procs, "401s", 30)
        wait_for("the alerts", lambda: all(s in " ".join(alert_receiver.texts()) for s in streams), 15, procs)

    tally = Tally.take("401 unauthorized (wrong secret key)", simulator, engine, streams, since)
    tally.assert_no_loss_no_double(alerts=len(alert_receiver.bodies))
    for stream in streams:
        assert [(c.endpoint, c.http_status) for c in tally.calls[stream]] == [("get", 401)]
        row = tally.rows[stream]
        assert row.state == "failed" and row.attempts == 1
        assert "unauthorized" in (row.last_error or "").lower(), row
        assert "not-the-secret" not in (row.last_error or "") + (row.outcome or "")
    alerted = " ".join(alert_receiver.texts())
    assert all(s in alerted for s in streams), alert_receiver.texts()


def test_a_worker_frozen_past_its_lease_loses_the_action_and_its_late_write(
    simulator: Simulator, postgres_url: str, tmp_path: Path, engines: Engines, request: pytest.FixtureRequest
) -> None:
    """Check 10, with the shipped 10 s lease: the enable answers 4 s late (FastPix has done the work),
    and the worker waiting for it is frozen (SIGSTOP) for 15 s, so it cannot renew its lease. The other
    worker reclaims the action, reads the stream (enabled) and reports the frozen worker's in-doubt act;
    when the frozen worker resumes, its late write is refused. One enable call per stream."""
    redis_server = request.getfixturevalue("redis_server")
    streams = disabled_streams(simulator, 2)
    for stream in streams:
        simulator.inject_fault("enable", "slow", delay=4.0, count=1, stream_id=stream)
    engine, env = shipped_scheduler(engines, simulator, tmp_path, postgres_url, redis_server.url)
    workers = [celery_proc("worker", env, tmp_path, suffix=f"-{n}") for n in (1, 2)]
    since = simulator.last_seq()
    with running(*workers, celery_proc("beat", env, tmp_path)) as procs:
        wait_ticking(engine, procs)
        schedule_enables(engine, streams, datetime.now(UTC) + timedelta(seconds=8), timedelta(0))
        ids = wait_for("the plan", lambda: [r.id for r in enable_rows(engine, streams).values()], 30, procs)
        # Both enables are in one batch: wait until FastPix has done them (each answer is 4 s away),
        # then freeze the worker waiting for the answers.
        owner = wait_for("the sends", lambda: _sender(engine, simulator, streams), 30, procs)
        frozen = next(w for w in workers if w.popen and owner.endswith(f":{w.popen.pid}"))
        assert frozen.popen is not None
        os.kill(frozen.popen.pid, signal.SIGSTOP)
        try:
            wait_settled(engine, streams, procs, "the reclaim by the other worker", 40)
        finally:
            os.kill(frozen.popen.pid, signal.SIGCONT)
        wait_for(
            "the frozen worker's late writes",
            lambda: event_count(engine, "stale_write_rejected", ids) >= len(streams),
            20,
            procs,
        )

    tally = Tally.take("a worker frozen past its lease (10 s)", simulator, engine, streams, since)
    stale = event_count(engine, "stale_write_rejected", ids)
    expired = event_count(engine, "lease_expired", ids)
    tally.assert_no_loss_no_double(leases_expired=expired, stale_writes_rejected=stale)
    assert expired >= len(streams) and stale >= len(streams)
    for stream in streams:
        assert tally.effects[stream] == 1
        assert [c.endpoint for c in tally.calls[stream]].count("enable") == 1
        assert tally.rows[stream].outcome == (
            "already enabled: done by attempt 1 (its worker died after sending), confirmed by attempt 2"
        ), "the newer execution's outcome stands, and names the frozen worker's act"


def test_a_slow_call_keeps_its_lease(
    simulator: Simulator, redis_server: RedisServer, postgres_url: str, tmp_path: Path, engines: Engines
) -> None:
    """A live worker keeps its lease however long the call takes: an enable answering 14 s late (past
    the 10 s lease; FastPix did the work) is not reclaimed, and its own outcome is recorded."""
    [stream] = disabled_streams(simulator, 1)
    simulator.inject_fault("enable", "slow", delay=14.0, count=1, stream_id=stream)
    engine, env = shipped_scheduler(engines, simulator, tmp_path, postgres_url, redis_server.url)
    env["FASTPIX_READ_TIMEOUT"] = "20"
    since = simulator.last_seq()
    with running(*procfile_procs(env, tmp_path)) as procs:
        wait_ticking(engine, procs)
        schedule_enables(engine, [stream], datetime.now(UTC) + timedelta(seconds=8), timedelta(0))
        wait_settled(engine, [stream], procs, "the slow call", 60)

    tally = Tally.take("an enable answering 14 s late (10 s lease)", simulator, engine, [stream], since)
    [row] = tally.rows.values()
    expired = event_count(engine, "lease_expired", [row.id])
    tally.assert_no_loss_no_double(leases_expired=expired)
    assert expired == 0, "the lease of a live worker lapsed"
    assert (row.state, row.outcome) == ("succeeded", "enabled")


def _sender(engine: sa.Engine, simulator: Simulator, streams: list[str]) -> str | None:
    """The lease owner of the enables, once FastPix has enabled every stream."""
    if any(simulator.stream(s)["status"] == "disabled" for s in streams):
        return None
    with engine.connect() as conn:
        owners = {
            r[0]
            for r in conn.execute(sa.text("SELECT lease_owner FROM actions WHERE kind = 'enable'"))
            if r[0]
        }
    return owners.pop() if len(owners) == 1 else None

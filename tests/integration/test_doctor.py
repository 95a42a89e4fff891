"""What ops sees, against real processes: `onair doctor` passes with PostgreSQL, Redis, the simulator,
a worker and beat all up, and fails with the right line when each of them is down in turn; the
worker's Prometheus endpoint (over HTTP), its JSON log lines, and the webhook alerts of a failed
action and of a stopped beat.

One stack (a PostgreSQL database, its own Redis database, a worker and beat) serves the module; the
tests run in file order and the last one stops beat.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Proc, celery_proc, migrate, onair_bin, scalar, scheduler_env, wait_for
from tests.integration.simulator_fixture import SECRET_KEY, Simulator
from tests.integration.webhook_receiver import Receiver, webhook_receiver
from worker.fastpix.client import FastPixClient
from worker.store.db import make_engine

pytestmark = [pytest.mark.processes, pytest.mark.postgres, pytest.mark.redis]

STALL_SECONDS = 4
UNKNOWN_STREAM = "0123456789abcdef" * 2  # onair knows it; FastPix answers 404


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    env: dict[str, str]
    engine: sa.Engine
    worker: Proc
    beat: Proc
    receiver: Receiver
    metrics_url: str
    good_action: int
    bad_action: int
    stream_key: str

    def doctor(self, *args: str, **env: str) -> tuple[int, list[str]]:
        done = subprocess.run(
            [onair_bin(), "doctor", *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout.splitlines()


@pytest.fixture(scope="module")
def stack(
    postgres_admin_url: str, redis_url: str, simulator: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name = f"onair_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    database_url = (
        sa.engine.make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    )
    # A Redis database of its own, so other tests' workers never take these messages.
    broker_url = redis_url.rsplit("/", 1)[0] + "/11"
    redis.Redis.from_url(broker_url).flushdb()
    migrate(database_url)
    engine = make_engine(database_url)
    simulator.reset()
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        created = api.create_stream()
        api.disable_stream(created.stream_id)
    assert created.stream_key is not None
    # Its enable fails once with a 503 and is retried: the retries counter must see it.
    simulator.inject_fault("enable", "503", count=1, stream_id=created.stream_id)
    stream_key = created.stream_key.get_secret_value()

    start = datetime.now(UTC) + timedelta(seconds=4)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO streams (stream_id, name, created_at) VALUES (:s, 'ghost', :now)"),
            {"s": UNKNOWN_STREAM, "now": datetime.now(UTC)},
        )
        for stream in (created.stream_id, UNKNOWN_STREAM):
            conn.execute(
                sa.text(
                    "INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds) "
                    "VALUES (:s, :a, :b, 0)"
                ),
                {"s": stream, "a": start, "b": start + timedelta(minutes=10)},
            )

    log_dir = tmp_path_factory.mktemp("doctor")
    port = free_port()
    with webhook_receiver() as receiver:
        env = scheduler_env(
            database_url=database_url,
            broker_url=broker_url,
            data_dir=log_dir / "data",
            fastpix=simulator.env,
            ONAIR_LOG_FORMAT="json",
            ONAIR_METRICS_PORT=str(port),
            ONAIR_ALERT_WEBHOOK_URL=receiver.url,
            ONAIR_STALL_SECONDS=str(STALL_SECONDS),
            ONAIR_HEARTBEAT_SECONDS="0.5",
            ONAIR_ALERT_BACKOFF_SECONDS="0.1",
        )
        worker, beat = celery_proc("worker", env, log_dir), celery_proc("beat", env, log_dir)
        worker.start()
        beat.start()
        try:
            finished = "SELECT count(*) FROM actions WHERE kind = 'enable' AND finished_at IS NOT NULL"
            wait_for("both enables to finish", lambda: scalar(engine, finished) == 2, 60, (worker, beat))

            def action_of(stream: str) -> int:
                return int(str(scalar(engine, "SELECT id FROM actions WHERE stream_id = :s", s=stream)))

            yield Stack(
                env,
                engine,
                worker,
                beat,
                receiver,
                f"http://127.0.0.1:{port}/metrics",
                action_of(created.stream_id),
                action_of(UNKNOWN_STREAM),
                stream_key,
            )
        finally:
            worker.stop()
            beat.stop()
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def line_of(lines: list[str], check: str) -> str:
    found = [line for line in lines if line.split()[1:2] == [check]]
    assert len(found) == 1, f"no single {check!r} line in {lines}"
    return found[0]


def test_doctor_passes_when_everything_is_up(stack: Stack) -> None:
    wait_for(
        "the dispatcher to tick",
        lambda: scalar(stack.engine, "SELECT value FROM scheduler_state WHERE key = 'last_tick_at'"),
        30,
    )
    code, lines = stack.doctor()
    assert code == 0, lines
    healthy = (
        "database", "broker", "fastpix", "beat", "workers", "consumers", "backlog", "planner", "schedules",
        "paused",
    )  # fmt: skip
    # The enable of the stream FastPix does not know failed: a warning, with its cause.
    assert [line.split()[:2] for line in lines] == [["ok", check] for check in healthy] + [["WARN", "recent"]]
    assert line_of(lines, "recent") == (
        f"WARN recent  1 failed or missed in the last 24 h: #{stack.bad_action} enable {UNKNOWN_STREAM} "
        'failed: FastPix 404 "stream not found" on GET stream, 1 attempt; '
        "FastPix refused it: an error like this is not retried"
    )
    # Between ticks, or in one (a tick can outlast the doctor's read on a loaded machine).
    assert re.match(
        r"ok   planner  (last successful tick|a long tick is under way)", line_of(lines, "planner")
    )
    assert line_of(lines, "schedules") == "ok   schedules  no invalid rows"
    strict, strict_lines = stack.doctor("--strict")
    # --strict: the same lines, but the warning fails the run.
    assert strict == 1 and [line.split()[:2] for line in strict_lines] == [line.split()[:2] for line in lines]
    assert line_of(lines, "database").endswith(
        "at head " + str(scalar(stack.engine, "SELECT version_num FROM alembic_version"))
    )
    assert "answered a ping" in line_of(lines, "workers")
    assert "1 consuming the actions queue: " in line_of(lines, "consumers")


def test_doctor_json_reports_every_check(stack: Stack) -> None:
    code, lines = stack.doctor("--json", "--only", "database,backlog")
    report = json.loads("\n".join(lines))
    assert code == 0 and report["ok"] is True
    assert [c["check"] for c in report["checks"]] == ["database", "backlog"]
    assert report["checks"][1]["due"] == 0


def test_doctor_fails_on_the_database_line_when_postgresql_is_unreachable(stack: Stack) -> None:
    url = sa.engine.make_url(stack.env["ONAIR_DATABASE_URL"]).set(database="onair_no_such_database")
    code, lines = stack.doctor(ONAIR_DATABASE_URL=url.render_as_string(hide_password=False))
    assert code == 1
    assert line_of(lines, "database").startswith("FAIL database  OperationalError")
    assert "onair_no_such_database" in line_of(lines, "database")
    assert line_of(lines, "broker").startswith("ok")


def test_doctor_fails_on_the_broker_line_when_redis_is_unreachable(stack: Stack) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    code, lines = stack.doctor("--only", "database,broker,workers", ONAIR_BROKER_URL=closed)
    assert code == 1
    assert line_of(lines, "broker").startswith(
        "FAIL broker  ConnectionError: Error 111 connecting to 127.0.0.1"
    )
    assert line_of(lines, "workers").startswith("FAIL workers  cannot ping them, the broker is down")
    assert line_of(lines, "database").startswith("ok")


def test_doctor_fails_on_the_fastpix_line_when_the_simulator_is_stopped(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    sim = Proc(
        "simulator",
        [
            onair_bin(),
            "simulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--state-file",
            str(tmp_path / "s.json"),
        ],
        stack.env,
        tmp_path / "simulator.log",
    ).start()
    api_url = f"http://127.0.0.1:{port}/v1"

    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/_sim/calls", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for("the second simulator", answers, 20, (sim,))
        code, lines = stack.doctor("--only", "fastpix", FASTPIX_API_URL=api_url)
        assert (code, line_of(lines, "fastpix").split()[0]) == (0, "ok")
    finally:
        sim.stop()
    code, lines = stack.doctor("--only", "fastpix", FASTPIX_API_URL=api_url)
    assert code == 1
    assert line_of(lines, "fastpix").startswith(f"FAIL fastpix  {api_url} unreachable")


def test_doctor_fails_on_the_fastpix_line_when_the_credentials_are_wrong(stack: Stack) -> None:
    code, lines = stack.doctor("--only", "fastpix", FASTPIX_SECRET_KEY="not-the-secret")
    assert code == 1
    assert line_of(lines, "fastpix").endswith("rejected the credentials (401)")
    assert "not-the-secret" not in "\n".join(lines)


def test_metrics_endpoint_counts_actions_calls_and_the_backlog(stack: Stack) -> None:
    families = {
        f.name: f for f in text_string_to_metric_families(httpx.get(stack.metrics_url, timeout=5).text)
    }

    def value(family: str, sample: str, **labels: str) -> float:
        for s in families[family].samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
        raise AssertionError(f"no {sample}{labels} in {families[family].samples}")

    assert value("onair_actions", "onair_actions_total", kind="enable", outcome="succeeded") == 1
    assert value("onair_actions", "onair_actions_total", kind="enable", outcome="failed") == 1
    # Only the good enable made an act call; the other failed on its state check.
    assert value("onair_action_lateness_seconds", "onair_action_lateness_seconds_count", kind="enable") == 1
    lateness_bucket = "onair_action_lateness_seconds_bucket"
    assert value("onair_action_lateness_seconds", lateness_bucket, kind="enable", le="60.0") == 1
    stream_calls = dict(endpoint="/live/streams/{streamId}", method="GET")
    assert (
        value(
            "onair_fastpix_request_duration_seconds",
            "onair_fastpix_request_duration_seconds_count",
            status="200",
            **stream_calls,
        )
        >= 1
    )
    assert (
        value(
            "onair_fastpix_request_duration_seconds",
            "onair_fastpix_request_duration_seconds_count",
            status="404",
            **stream_calls,
        )
        == 1
    )
    assert value("onair_action_retries", "onair_action_retries_total", kind="enable") == 1
    enable = dict(endpoint="/live/streams/{streamId}/live-enable", method="PUT")
    assert (
        value(
            "onair_fastpix_request_duration_seconds",
            "onair_fastpix_request_duration_seconds_count",
            status="503",
            **enable,
        )
        == 1
    )
    enable["status"] = "200"
    assert (
        value(
            "onair_fastpix_request_duration_seconds", "onair_fastpix_request_duration_seconds_count", **enable
        )
        == 1
    )
    assert value("onair_due_actions", "onair_due_actions") == 0
    assert value("onair_database_up", "onair_database_up") == 1
    assert 0 <= value("onair_last_tick_age_seconds", "onair_last_tick_age_seconds") < STALL_SECONDS


def test_the_failed_action_is_alerted_once(stack: Stack) -> None:
    failed = wait_for("the failure alert", lambda: stack.receiver.of_event("action_failed"), 20)
    assert len(failed) == 1
    assert failed[0]["action_id"] == stack.bad_action and failed[0]["stream_id"] == UNKNOWN_STREAM
    assert f"(action #{stack.bad_action})" in failed[0]["text"]


def test_worker_and_beat_log_json_lines_with_the_action_and_no_secret(stack: Stack) -> None:
    worker_lines = [
        json.loads(line) for line in stack.worker.tail(10**7).splitlines() if line.startswith("{")
    ]
    beat_lines = [json.loads(line) for line in stack.beat.tail(10**7).splitlines() if line.startswith("{")]
    assert beat_lines and worker_lines
    for line in worker_lines + beat_lines:
        assert {"timestamp", "level", "logger", "message"} <= line.keys()
    about_good = [line for line in worker_lines if line.get("action_id") == stack.good_action]
    assert any("enabled" in line["message"] for line in about_good), about_good
    assert all(
        line["stream_id"]
        == scalar(stack.engine, "SELECT stream_id FROM actions WHERE id = :i", i=stack.good_action)
        for line in about_good
    )
    everything = stack.worker.tail(10**7) + stack.beat.tail(10**7)
    assert SECRET_KEY not in everything and stack.stream_key not in everything


def test_stopped_beat_fails_doctor_and_is_alerted_once(stack: Stack) -> None:
    stack.beat.stop()
    stalled = wait_for(
        "the stalled-scheduler alert", lambda: stack.receiver.of_event("scheduler_stalled"), 30
    )
    code, lines = stack.doctor("--only", "beat")
    assert code == 1
    beat = line_of(lines, "beat")
    assert beat.startswith("FAIL beat  last tick ") and beat.endswith(f"s ago (limit {STALL_SECONDS} s)")
    assert len(stalled) == 1 and stalled[0]["text"].startswith("onair: the scheduler has not ticked for ")


def test_doctor_on_the_embedded_broker_sees_workers_by_their_heartbeat(
    simulator: Simulator, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path}/onair.db"
    migrate(database_url)
    env = scheduler_env(
        database_url=database_url,
        data_dir=tmp_path / "data",
        fastpix=simulator.env,
        ONAIR_HEARTBEAT_SECONDS="0.5",
    )
    run = Proc("onair-run", [onair_bin(), "run", "--workers", "1"], env, tmp_path / "onair-run.log").start()
    engine = make_engine(database_url)

    def doctor() -> tuple[int, list[str]]:
        done = subprocess.run([onair_bin(), "doctor"], env=env, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout.splitlines()

    try:
        heartbeat = "SELECT count(*) FROM scheduler_state WHERE key LIKE 'worker:%'"
        wait_for("a worker heartbeat", lambda: scalar(engine, heartbeat), 60, (run,))
        for key in ("last_tick_at", "planner:last_ok"):  # the dispatcher's and the planner's first ticks
            wait_for(
                f"a tick ({key})",
                lambda key=key: scalar(engine, "SELECT value FROM scheduler_state WHERE key = :k", k=key),
                60,
                (run,),
            )
        code, lines = doctor()
        assert code == 0, lines
        workers = line_of(lines, "workers")
        assert workers.startswith("ok   workers  2 with a heartbeat in the last 2 s: onair-0@")
        assert "onair-planner@" in workers
        assert line_of(lines, "broker").startswith("ok   broker  embedded, folder ")
    finally:
        run.stop()
        engine.dispose()
    engine = make_engine(database_url)
    with engine.begin() as conn:  # the worker is gone: make its heartbeat old
        conn.execute(
            sa.text("UPDATE scheduler_state SET updated_at = '2000-01-01 00:00:00' WHERE key LIKE 'worker:%'")
        )
    engine.dispose()
    code, lines = doctor()
    assert code == 1
    assert line_of(lines, "workers") == "FAIL workers  no worker heartbeat in the last 2 s (2 known)"

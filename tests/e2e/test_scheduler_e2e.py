"""The whole product against real processes: the CLI and plain SQL write schedules, real Celery worker
and beat processes carry them out, and the FastPix simulator (over HTTP) counts every effect.

Run once on the embedded default (SQLite, folder broker, `onair run`) and once on PostgreSQL + Redis
(separate `celery worker` and `celery beat` processes).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from tests.harness import Proc, celery_proc, migrate, onair_bin, running, scalar, scheduler_env, wait_for
from tests.integration.simulator_fixture import Simulator
from worker.fastpix.client import FastPixClient
from worker.simulator.control import CallRecord
from worker.store.db import make_engine

pytestmark = pytest.mark.processes

ON_TIME = timedelta(seconds=2)
STAGE = {"name": "CLI stage", "city": "Berlin"}


@dataclass
class Backend:
    name: str
    database_url: str
    broker_url: str


@pytest.fixture(params=["embedded", "postgres+redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "embedded":
        return Backend("embedded", f"sqlite:///{tmp_path}/onair.db", "")
    postgres_url: str = request.getfixturevalue("postgres_url")
    redis_url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(redis_url).flushdb()
    return Backend("postgres+redis", postgres_url, redis_url)


def scheduler_procs(backend: Backend, env: dict[str, str], log_dir: Path) -> tuple[Proc, ...]:
    if backend.name == "embedded":
        return (Proc("onair-run", [onair_bin(), "run"], env, log_dir / "onair-run.log"),)
    return (celery_proc("worker", env, log_dir), celery_proc("beat", env, log_dir))


def iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def arrival(call: CallRecord) -> datetime:
    return datetime.fromisoformat(call.time).astimezone(UTC)


def assert_once_on_time(calls: list[CallRecord], due: datetime, what: str) -> None:
    assert len(calls) == 1, f"{what}: expected exactly one call, got {len(calls)}: {calls}"
    late = arrival(calls[0]) - due
    assert timedelta(0) <= late <= ON_TIME, f"{what}: arrived {late.total_seconds():+.3f} s from due {due}"
    assert calls[0].http_status == 200, f"{what}: {calls[0]}"


def failing_stream(simulator: Simulator) -> str:
    """A disabled stream whose every enable FastPix answers with a 500: its broadcast fails."""
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        stream = api.create_stream().stream_id
        api.disable_stream(stream)
    simulator.inject_fault("enable", "500", count=10_000, stream_id=stream)
    return stream


def _instant(value: datetime | str) -> datetime:
    """A timestamp as either backend's driver returns it (SQLite: text in UTC)."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def assert_report_names_everything(
    onair: Callable[..., str], engine: sa.Engine, streams: list[str], fault_stream: str
) -> None:
    """`onair report` over the run: each broadcast with its outcome, the injected failure with its
    cause (FastPix's status and message, the call, the attempts) and the rule that stopped it."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, stream_id, starts_at FROM broadcasts")).all()
    now = datetime.now(UTC)
    # The report covers the run's hour: the bad rows written hours and days ahead are not in it.
    broadcasts = {
        row_id: stream
        for row_id, stream, starts_at in rows
        if stream in streams and _instant(starts_at) <= now
    }
    report = json.loads(onair("report", "--since", "1h", "--json"))
    outcomes = {b["stream_id"]: (b["outcome"], b["cause"]) for b in report["broadcasts"]}
    assert set(streams) <= set(outcomes)
    state, cause = outcomes[fault_stream]
    assert state in ("failed", "missed") and cause is not None
    assert 'FastPix 500 "internal server error" on PUT live-enable' in cause
    [failure] = [f for f in report["failures"] if f["stream_id"] == fault_stream]
    assert failure["kind"] == "enable" and 'FastPix 500 "internal server error"' in failure["why"]
    assert {r["row"].split("#")[0] for r in report["invalid_rows"]} >= {"broadcasts", "off_hours"}
    assert report["totals"]["actions"] >= 6 and report["totals"]["max_seconds"] < ON_TIME.total_seconds()
    text = onair("report", "--since", "1h", "--tz", "UTC")
    for broadcast_id in broadcasts:
        assert f"• #{broadcast_id} " in text
    assert "doomed show" in text and f"action #{failure['action_id']} enable of {fault_stream}" in text
    assert 'FastPix 500 "internal server error" on PUT live-enable' in text


def test_schedules_drive_fastpix_exactly_once(backend: Backend, simulator: Simulator, tmp_path: Path) -> None:
    simulator.reset()
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        # The CLI stream has a name of its own, which its broadcast's metadata must not wipe.
        cli_stream = api.create_stream(metadata=STAGE).stream_id
        sql_stream, off_stream = (api.create_stream().stream_id for _ in range(2))
        api.disable_stream(cli_stream)
        api.disable_stream(sql_stream)

    migrate(backend.database_url)
    env = scheduler_env(
        database_url=backend.database_url,
        broker_url=backend.broker_url,
        data_dir=tmp_path / "data",
        fastpix=simulator.env,
    )

    fault_stream = failing_stream(simulator)

    now = datetime.now(UTC)
    # The next minute at least 55 s away: the setup below (CLI processes) takes up to half a minute on a
    # loaded machine, and the scheduler must start before the first act (15 s before the boundary).
    boundary = (now + timedelta(seconds=55)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    lead = timedelta(seconds=5)
    cli_start, cli_end = boundary - timedelta(seconds=10), boundary + timedelta(seconds=5)
    sql_start, sql_end = boundary - timedelta(seconds=8), boundary + timedelta(seconds=6)
    window = timedelta(seconds=10)

    def onair(*args: str) -> str:
        done = subprocess.run([onair_bin(), *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"onair {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    onair(
        "broadcast",
        "add",
        "--stream",
        cli_stream,
        "--start",
        iso(cli_start),
        "--end",
        iso(cli_end),
        "--lead",
        "5s",
        "--title",
        "CLI show",
        "--metadata",
        "show=x",
        "--metadata",
        "city=Hamburg",
    )
    onair(
        "offhours",
        "add",
        "--stream",
        off_stream,
        "--cron",
        f"{boundary.minute} {boundary.hour} * * *",
        "--duration",
        "10s",
        "--tz",
        "UTC",
    )
    engine = make_engine(backend.database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds) VALUES (:s, :a, :b, 5)"
            ),
            {
                "s": sql_stream,
                "a": sql_start.strftime("%Y-%m-%d %H:%M:%S"),
                "b": sql_end.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

        conn.execute(
            sa.text(
                "INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds, title) "
                "VALUES (:s, :a, :b, 5, 'doomed show')"
            ),
            {
                "s": fault_stream,
                "a": sql_start.strftime("%Y-%m-%d %H:%M:%S"),
                "b": sql_end.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

        # Rows an operator got wrong: flagged with their reason, while every other row still runs.
        conn.execute(
            sa.text(
                "INSERT INTO off_hours (stream_id, cron, duration_seconds, timezone) "
                "VALUES (:s, '61 25 * * *', 60, 'Mars/Olympus_Mons')"
            ),
            {"s": off_stream},
        )
        conn.execute(
            sa.text("INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES ('0' || :s, :a, :b)"),
            {
                "s": "f" * 31,
                "a": sql_start.strftime("%Y-%m-%d %H:%M:%S"),
                "b": sql_end.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

        bad_rows = add_issue_9_rows(conn, backend.name, cli_stream, sql_stream, off_stream, boundary)

    with running(*scheduler_procs(backend, env, tmp_path)) as procs:
        wait_for(
            "the CLI stream's enable",
            lambda: simulator.calls(stream_id=cli_stream, endpoint="enable"),
            timeout=(cli_start - lead - datetime.now(UTC)).total_seconds() + 10,
            procs=procs,
        )
        simulator.connect(cli_stream, delay=0)
        settle = (boundary + window - datetime.now(UTC)).total_seconds() + 4
        wait_for(
            "the off-hours re-enable",
            lambda: simulator.calls(stream_id=off_stream, endpoint="enable"),
            timeout=settle,
            procs=procs,
        )
        wait_for(
            "every action to finish",
            lambda: (
                scalar(
                    engine,
                    "SELECT count(*) FROM actions WHERE state IN ('pending', 'claimed') AND due_at < :t",
                    t=boundary + window + timedelta(seconds=1),
                )
                == 0
            ),
            timeout=10,
            procs=procs,
        )

    def calls(stream: str, endpoint: str) -> list[CallRecord]:
        return simulator.calls(stream_id=stream, endpoint=endpoint)

    assert_once_on_time(calls(cli_stream, "enable"), cli_start - lead, "CLI broadcast enable")
    assert_once_on_time(calls(cli_stream, "finish"), cli_end, "CLI broadcast finish")
    # Its metadata: merged in once after the enable, put back once after the finish.
    merge, restore = calls(cli_stream, "update")
    assert_once_on_time([merge], cli_start - lead, "CLI broadcast metadata merge")
    assert_once_on_time([restore], cli_end, "CLI broadcast metadata restore")
    assert arrival(restore) > arrival(calls(cli_stream, "finish")[0]), "put back after the finish"
    assert simulator.stream(cli_stream)["metadata"] == STAGE, "the stream's metadata is as before"
    assert_once_on_time(calls(sql_stream, "enable"), sql_start - lead, "SQL broadcast enable")
    assert calls(sql_stream, "finish") == [], "the SQL stream never went live: nothing to finish"
    assert_once_on_time(calls(off_stream, "disable"), boundary, "off-hours disable")
    assert_once_on_time(calls(off_stream, "enable"), boundary + window, "off-hours re-enable")
    assert simulator.stream(cli_stream)["status"] == "idle"
    assert simulator.stream(off_stream)["status"] == "idle"
    assert_report_names_everything(onair, engine, [cli_stream, sql_stream, fault_stream], fault_stream)

    with engine.connect() as conn:
        outcomes = dict(
            conn.execute(
                sa.text(
                    "SELECT kind || ':' || stream_id, state FROM actions WHERE stream_id = :s "
                    "AND kind = 'finish'"
                ),
                {"s": sql_stream},
            ).all()
        )
    assert outcomes == {f"finish:{sql_stream}": "skipped"}
    with engine.connect() as conn:
        cli_actions: dict[str, str] = dict(
            conn.execute(
                sa.text("SELECT kind, state FROM actions WHERE stream_id = :s"), {"s": cli_stream}
            ).all()
        )
        cli_name = conn.execute(
            sa.text("SELECT name FROM streams WHERE stream_id = :s"), {"s": cli_stream}
        ).scalar()
    assert cli_actions == {k: "succeeded" for k in ("enable", "update", "finish", "restore")}
    assert cli_name == "CLI stage", "onair's streams table keeps the stream's name"
    with engine.connect() as conn:
        bad_rule = conn.execute(
            sa.text("SELECT invalid_reason FROM off_hours WHERE cron = '61 25 * * *'")
        ).scalar()
        bad_broadcast = conn.execute(
            sa.text("SELECT invalid_reason FROM broadcasts WHERE stream_id = :s"), {"s": "0" + "f" * 31}
        ).scalar()
    assert bad_rule is not None and "61 25 * * *" in bad_rule and "Mars/Olympus_Mons" in bad_rule
    assert bad_broadcast is not None and "not known to onair" in bad_broadcast
    with engine.connect() as conn:
        for (table, row_id), expected in bad_rows.items():
            found = conn.execute(
                sa.text(f"SELECT invalid_reason FROM {table} WHERE id = :i"), {"i": row_id}
            ).scalar()
            assert found is not None and expected in found, (table, row_id, found)
    engine.dispose()
    # `onair doctor` names each of them (a warning: it exits 0 unless --strict).
    [schedules] = json.loads(onair("doctor", "--only", "schedules", "--json"))["checks"]
    assert schedules["warning"] and schedules["ok"]
    assert {f"{table}#{row_id}" for table, row_id in bad_rows} <= {r["row"] for r in schedules["invalid"]}


def add_issue_9_rows(
    conn: sa.Connection, backend: str, cli_stream: str, sql_stream: str, off_stream: str, boundary: datetime
) -> dict[tuple[str, int], str]:
    """The rows that used to stop all planning or slip through unflagged (issue 9), written with plain
    SQL on streams the run uses: each must be flagged while the valid broadcasts beside them run."""

    def insert(table: str, **values: object) -> int:
        names, marks = ", ".join(values), ", ".join(f":{k}" for k in values)
        return int(
            conn.execute(
                sa.text(f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING id"), values
            ).scalar_one()
        )

    def at(hours: int) -> str:
        return (boundary + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S")

    rows = {
        (
            "off_hours",
            insert(
                "off_hours", stream_id=off_stream, cron="0 22 * * *", duration_seconds=60, timezone="Europe"
            ),
        ): "unknown time zone 'Europe'",
        (
            "broadcast_series",
            insert(
                "broadcast_series",
                stream_id=sql_stream,
                cron="0 19 * * *",
                duration_seconds=60,
                timezone="America",
            ),
        ): "unknown time zone 'America'",
        (
            "broadcasts",
            insert(
                "broadcasts",
                stream_id=cli_stream,
                starts_at=at(2),
                ends_at=at(3),
                metadata="[" * 100_000 + "]" * 100_000,
            ),
        ): "metadata is nested too deeply",
        (
            "broadcasts",
            insert("broadcasts", stream_id=cli_stream, starts_at=at(72), ends_at=at(73), metadata="not json"),
        ): "metadata is not valid JSON",
    }
    if backend == "embedded":  # SQLite stores what PostgreSQL's integer columns refuse
        rows[
            (
                "off_hours",
                insert("off_hours", stream_id=off_stream, cron="0 22 * * *", duration_seconds="abc"),
            )
        ] = "duration_seconds 'abc' is not a number of seconds"
        rows[
            (
                "off_hours",
                insert(
                    "off_hours", cron="0 22 * * *", duration_seconds=9223372036854775807, timezone="E" * 300
                ),
            )
        ] = "out of range"
        rows[
            (
                "broadcasts",
                insert("broadcasts", stream_id=sql_stream, starts_at=at(4), ends_at=at(5), lead_seconds=1.5),
            )
        ] = "lead_seconds 1.5 is not a whole number of seconds"
    return rows

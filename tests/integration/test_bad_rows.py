"""One bad schedule row never stops planning (issue 9): each row written with plain SQL that used to
make every planner tick raise, or slipped through unflagged, is flagged with a reason a person
understands, while a valid broadcast beside it is planned. On SQLite and PostgreSQL where the row can
exist (PostgreSQL's typed columns refuse text in an integer column at INSERT)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from tests.integration.cli_support import Onair, assert_one_line_error, migrated_on_backend
from tests.integration.store_support import BACKENDS, migrated, migrated_engine
from worker.clock import FixedClock
from worker.config import FastPixSettings, OnairSettings
from worker.service.planning import plan_tick
from worker.service.runtime import Runtime
from worker.store.db import transaction
from worker.store.models import Action

# Rows get created_at = CURRENT_TIMESTAMP, and actions due before a row existed are not owed: the
# planner's clock is the real one, to the second.
NOW = datetime.now(UTC).replace(microsecond=0)
GOOD = "good-stream"
OTHER = "other-stream"
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    for engine in migrated_engine(request, tmp_path):
        sql(engine, f"INSERT INTO streams (stream_id, name) VALUES ('{GOOD}', 'Good'), ('{OTHER}', 'Other')")
        yield engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    for engine in migrated(f"sqlite:///{tmp_path}/onair.db"):
        sql(engine, f"INSERT INTO streams (stream_id, name) VALUES ('{GOOD}', 'Good'), ('{OTHER}', 'Other')")
        yield engine


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def insert(engine: Engine, table: str, **values: object) -> int:
    names = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING id"), values
            ).scalar_one()
        )


def other_broadcast(engine: Engine, **values: object) -> int:
    """A broadcast on the other stream, 3 to 4 hours ahead, with `values` written as given."""
    times = {"stream_id": OTHER, "starts_at": NOW + timedelta(hours=3), "ends_at": NOW + timedelta(hours=4)}
    return insert(engine, "broadcasts", **{**times, **values})


def good_broadcast(engine: Engine) -> int:
    return insert(
        engine,
        "broadcasts",
        stream_id=GOOD,
        starts_at=NOW + timedelta(hours=1),
        ends_at=NOW + timedelta(hours=2),
    )


def tick(engine: Engine, now: datetime = NOW) -> None:
    rt = Runtime(OnairSettings(series_horizon_days=30), FastPixSettings(), FixedClock(now), engine=engine)
    plan_tick(rt)


def reason(engine: Engine, table: str, row_id: int) -> str | None:
    with engine.connect() as conn:
        value = conn.execute(
            text(f"SELECT invalid_reason FROM {table} WHERE id = :i"), {"i": row_id}
        ).scalar()
        return None if value is None else str(value)


def planned_kinds(engine: Engine, broadcast_id: int) -> list[str]:
    with transaction(engine, immediate=False) as session:
        return sorted(
            session.scalars(
                select(Action.kind).where(Action.source == "broadcast", Action.source_id == broadcast_id)
            )
        )


def assert_flagged_beside_a_planned_broadcast(engine: Engine, table: str, row_id: int, expected: str) -> None:
    good = good_broadcast(engine)
    tick(engine)
    assert planned_kinds(engine, good) == ["enable", "finish"]
    found = reason(engine, table, row_id)
    assert found is not None and expected in found, found
    assert reason(engine, "broadcasts", good) is None


@pytest.mark.parametrize("folder", ["Europe", "America", "Etc"])
def test_an_off_hours_zone_that_is_a_folder_of_the_zone_database(engine: Engine, folder: str) -> None:
    rule = insert(
        engine, "off_hours", stream_id=OTHER, cron="0 22 * * *", duration_seconds=3600, timezone=folder
    )
    assert_flagged_beside_a_planned_broadcast(engine, "off_hours", rule, f"unknown time zone '{folder}'")


def test_a_series_zone_that_is_a_folder_of_the_zone_database(engine: Engine) -> None:
    series = insert(
        engine,
        "broadcast_series",
        stream_id=OTHER,
        cron="0 19 * * *",
        duration_seconds=1800,
        timezone="America",
    )
    assert_flagged_beside_a_planned_broadcast(
        engine, "broadcast_series", series, "unknown time zone 'America'"
    )


def test_a_300_character_zone(sqlite_engine: Engine) -> None:
    # PostgreSQL's varchar(64) refuses it at INSERT; SQLite stores it, and zoneinfo raised OSError.
    rule = insert(sqlite_engine, "off_hours", cron="0 22 * * *", duration_seconds=3600, timezone="E" * 300)
    series = insert(
        sqlite_engine,
        "broadcast_series",
        stream_id=OTHER,
        cron="0 19 * * *",
        duration_seconds=60,
        timezone="x" * 300,
    )
    assert_flagged_beside_a_planned_broadcast(sqlite_engine, "off_hours", rule, "unknown time zone 'EEEE")
    assert "longer than 64 characters" in (reason(sqlite_engine, "broadcast_series", series) or "")


def test_metadata_nested_100000_deep(engine: Engine) -> None:
    deep = other_broadcast(
        engine,
        metadata=DEEP,
    )
    assert_flagged_beside_a_planned_broadcast(
        engine, "broadcasts", deep, "metadata is nested too deeply to read"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("abc", "duration_seconds 'abc' is not a number of seconds"), (9223372036854775807, "is out of range")],
)
def test_an_off_hours_duration_that_is_not_a_usable_integer(
    sqlite_engine: Engine, value: object, expected: str
) -> None:
    rule = insert(sqlite_engine, "off_hours", cron="0 22 * * *", duration_seconds=value, timezone="UTC")
    assert_flagged_beside_a_planned_broadcast(sqlite_engine, "off_hours", rule, expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("abc", "duration_seconds 'abc' is not a number of seconds"), (9223372036854775807, "is out of range")],
)
def test_a_series_duration_that_is_not_a_usable_integer(
    sqlite_engine: Engine, value: object, expected: str
) -> None:
    series = insert(
        sqlite_engine,
        "broadcast_series",
        stream_id=OTHER,
        cron="0 19 * * *",
        duration_seconds=value,
        timezone="UTC",
    )
    assert_flagged_beside_a_planned_broadcast(sqlite_engine, "broadcast_series", series, expected)


def test_a_broadcast_days_ahead_with_bad_metadata_is_flagged_on_the_next_tick(engine: Engine) -> None:
    far = insert(
        engine,
        "broadcasts",
        stream_id=GOOD,
        starts_at=NOW + timedelta(days=3),
        ends_at=NOW + timedelta(days=3, hours=1),
        metadata="not json",
    )
    assert_flagged_beside_a_planned_broadcast(engine, "broadcasts", far, "metadata is not valid JSON")

    sql(engine, 'UPDATE broadcasts SET metadata = \'{"show": "x"}\' WHERE id = :i', i=far)
    tick(engine)
    assert reason(engine, "broadcasts", far) is None

    sql(engine, "UPDATE broadcasts SET title = :t WHERE id = :i", t="News\x1b[2J", i=far)
    tick(engine)
    assert reason(engine, "broadcasts", far) == "title contains a control character (U+001B at position 5)"


def test_a_lead_that_is_not_a_whole_number_of_seconds(sqlite_engine: Engine) -> None:
    row = other_broadcast(
        sqlite_engine,
        lead_seconds=1.5,
    )
    assert_flagged_beside_a_planned_broadcast(
        sqlite_engine, "broadcasts", row, "lead_seconds 1.5 is not a whole number of seconds"
    )
    assert planned_kinds(sqlite_engine, row) == []


def test_numeric_text_in_an_integer_column_is_stored_as_a_number_by_sqlite(sqlite_engine: Engine) -> None:
    # SQLite's integer affinity turns '300' and '120' into the integers 300 and 120: the row is
    # exactly what an integer would make, so it is planned (text that stays text is flagged below).
    row = other_broadcast(
        sqlite_engine,
        lead_seconds="300",
        reconnect_window="120",
    )
    with sqlite_engine.connect() as conn:
        kinds = conn.execute(
            text("SELECT typeof(lead_seconds), typeof(reconnect_window) FROM broadcasts WHERE id = :i"),
            {"i": row},
        ).one()
    assert tuple(kinds) == ("integer", "integer")
    tick(sqlite_engine)
    assert reason(sqlite_engine, "broadcasts", row) is None
    assert planned_kinds(sqlite_engine, row) == ["enable", "finish", "update"]


def test_a_reconnect_window_that_is_not_a_whole_number(sqlite_engine: Engine) -> None:
    row = other_broadcast(
        sqlite_engine,
        reconnect_window=150.5,
    )
    assert_flagged_beside_a_planned_broadcast(
        sqlite_engine, "broadcasts", row, "reconnect_window 150.5 is not a whole number of seconds"
    )


def test_a_booking_by_an_organiser_who_does_not_exist(sqlite_engine: Engine, tmp_path: Path) -> None:
    # The sqlite3 shell runs without foreign keys unless told: the row goes in.
    conn = sqlite3.connect(tmp_path / "onair.db")
    with conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        row = conn.execute(
            "INSERT INTO broadcasts (stream_id, starts_at, ends_at, organiser_id) VALUES (?, ?, ?, 99)",
            (OTHER, (NOW + timedelta(hours=3)).isoformat(), (NOW + timedelta(hours=4)).isoformat()),
        ).lastrowid
    conn.close()
    assert row is not None
    assert_flagged_beside_a_planned_broadcast(
        sqlite_engine, "broadcasts", row, "organiser #99 does not exist"
    )


def test_a_title_with_a_terminal_escape(engine: Engine) -> None:
    row = other_broadcast(
        engine,
        title="Late\x1b]0;pwned\x07 set",
    )
    label = insert(
        engine, "off_hours", cron="0 22 * * *", duration_seconds=3600, timezone="UTC", label="a\rb"
    )
    assert_flagged_beside_a_planned_broadcast(
        engine, "broadcasts", row, "title contains a control character (U+001B at position 5)"
    )
    assert reason(engine, "off_hours", label) == "label contains a control character (U+000D at position 2)"


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


@pytest.mark.parametrize("command", [["offhours", "add"], ["broadcast", "add"]])
def test_a_zone_folder_on_the_command_line_is_one_error_line(onair: Onair, command: list[str]) -> None:
    onair.add_stream(GOOD)
    args = ["--stream", GOOD, "--cron", "0 22 * * *", "--duration", "1h", "--tz", "Europe"]
    assert_one_line_error(onair(*command, *args), "unknown time zone 'Europe'")
    assert_one_line_error(onair("plan", "--tz", "America"), "unknown time zone 'America'")


def test_onair_plan_shows_the_bad_rows_without_a_traceback(onair: Onair, tmp_path: Path) -> None:
    onair.add_stream(GOOD)
    onair.add_stream(OTHER)
    insert(
        onair.engine,
        "off_hours",
        stream_id=OTHER,
        cron="0 22 * * *",
        duration_seconds=3600,
        timezone="Europe",
    )
    insert(
        onair.engine,
        "broadcasts",
        stream_id=OTHER,
        starts_at=datetime.now(UTC) + timedelta(hours=3),
        ends_at=datetime.now(UTC) + timedelta(hours=4),
        metadata=DEEP,
    )
    if onair.engine.dialect.name == "sqlite":  # text where a number belongs, which PostgreSQL refuses
        insert(onair.engine, "off_hours", stream_id=OTHER, cron="0 22 * * *", duration_seconds="abc")
        insert(
            onair.engine,
            "broadcasts",
            stream_id=GOOD,
            starts_at=datetime.now(UTC) + timedelta(hours=3),
            ends_at=datetime.now(UTC) + timedelta(hours=4),
            lead_seconds=1.5,
        )
    for args in (["plan"], ["plan", "--json"], ["plan", "--ics", str(tmp_path / "plan.ics")]):
        result = onair(*args)
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output


def test_a_row_whose_stored_timestamp_cannot_be_read_is_flagged_alone(sqlite_engine: Engine) -> None:
    # A database copied before the timestamp triggers existed (or with them dropped) can hold text
    # that is no timestamp: the row cannot even be loaded, and only it is flagged.
    near = other_broadcast(sqlite_engine)
    far = other_broadcast(
        sqlite_engine, starts_at=NOW + timedelta(days=5), ends_at=NOW + timedelta(days=5, hours=1)
    )
    sql(sqlite_engine, "DROP TRIGGER trg_broadcasts_check_ts_update")
    sql(sqlite_engine, "DROP TRIGGER trg_broadcasts_normalise_ts_update")
    sql(sqlite_engine, "UPDATE broadcasts SET created_at = 'yesterday' WHERE id IN (:a, :b)", a=near, b=far)

    assert_flagged_beside_a_planned_broadcast(
        sqlite_engine, "broadcasts", near, "row cannot be read: ValueError"
    )
    assert "row cannot be read: ValueError" in (reason(sqlite_engine, "broadcasts", far) or "")

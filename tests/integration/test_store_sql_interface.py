"""What an operator types in plain SQL (docs/schema.md) is stored as the instant they meant, or refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from tests.integration.store_support import BACKENDS, migrated, migrated_engine
from worker.store.db import transaction
from worker.store.models import Broadcast, OffHours

EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    yield from migrated(sqlite_url)


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    yield from migrated(postgres_url)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


def _sql(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        conn.execute(text(statement))


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_minimal_broadcast_row_gets_defaults_and_utc_instants(engine: Engine) -> None:
    _sql(
        engine,
        "INSERT INTO broadcasts (stream_id, starts_at, ends_at)"
        " VALUES ('s1', '2026-11-27 18:00:00', '2026-11-27T20:30:00+01:00')",
    )

    with transaction(engine, immediate=False) as session:
        row = session.scalars(select(Broadcast)).one()
        assert (row.starts_at, row.ends_at) == (EVENING, datetime(2026, 11, 27, 19, 30, tzinfo=UTC))
        assert row.starts_at.tzinfo is not None
        assert row.lead_seconds == 300
        assert row.cancelled_at is None and row.invalid_reason is None
        assert row.created_at.tzinfo is not None


def test_minimal_off_hours_row_defaults_to_utc(engine: Engine) -> None:
    _sql(
        engine, "INSERT INTO off_hours (stream_id, cron, duration_seconds) VALUES (NULL, '0 22 * * *', 36000)"
    )

    with transaction(engine, immediate=False) as session:
        row = session.scalars(select(OffHours)).one()
    assert (row.stream_id, row.cron, row.duration_seconds, row.timezone) == (None, "0 22 * * *", 36000, "UTC")


def test_sql_orders_hand_typed_instants_by_time_not_by_spelling(engine: Engine) -> None:
    # 20:30+03:00 is 17:30 UTC: earlier than 18:00 UTC although it sorts later as text.
    _sql(
        engine,
        "INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES ('a', '2026-11-27 18:00:00', "
        "'2026-11-27 19:00:00')",
    )
    _sql(
        engine,
        "INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES ('b', '2026-11-27T20:30:00+03:00', "
        "'2026-11-27T21:00:00+03:00')",
    )

    with engine.connect() as conn:
        order = conn.execute(text("SELECT stream_id FROM broadcasts ORDER BY starts_at")).scalars().all()
        later = (
            conn.execute(text("SELECT stream_id FROM broadcasts WHERE starts_at > '2026-11-27 17:45:00'"))
            .scalars()
            .all()
        )
    assert order == ["b", "a"]
    assert later == ["a"]


def test_sqlite_stores_one_canonical_utc_text_form(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    _sql(
        engine,
        "INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES ('s', '2026-11-27 18:00', "
        "'2026-11-27T19:00:00.250Z')",
    )
    _sql(engine, "UPDATE broadcasts SET starts_at = '2026-11-27T12:30:00-05:00'")

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT starts_at, ends_at, created_at FROM broadcasts")).one()
    assert stored.starts_at == "2026-11-27 17:30:00.000"
    assert stored.ends_at == "2026-11-27 19:00:00.250"
    assert len(stored.created_at) == len("2026-11-27 18:00:00.000")


@pytest.mark.parametrize(
    "bad", ["tomorrow", "2026-02-30 10:00:00", "27/11/2026 18:00", "2461372.25", "now", "12"]
)
def test_sqlite_refuses_text_that_is_not_a_timestamp(sqlite_engine: Engine, bad: str) -> None:
    engine = sqlite_engine

    with pytest.raises(DBAPIError, match=r"broadcasts\.starts_at is not a timestamp"):
        _sql(
            engine,
            f"INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES ('s', '{bad}', "
            "'2027-01-01 00:00:00')",
        )

    assert _count(engine, "broadcasts") == 0


def test_sqlite_refuses_a_bad_timestamp_in_an_update_and_keeps_the_row(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    _sql(
        engine,
        "INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES ('s', '2026-11-27 18:00:00', "
        "'2026-11-27 19:00:00')",
    )

    with pytest.raises(DBAPIError, match=r"broadcasts\.cancelled_at is not a timestamp"):
        _sql(engine, "UPDATE broadcasts SET cancelled_at = 'yesterday'")

    with transaction(engine, immediate=False) as session:
        assert session.scalars(select(Broadcast.cancelled_at)).one() is None


def test_postgresql_refuses_text_that_is_not_a_timestamp(pg_engine: Engine) -> None:
    engine = pg_engine
    with pytest.raises(DBAPIError, match="invalid input syntax"):
        _sql(
            engine,
            "INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES ('s', 'tomorrowish', "
            "'2027-01-01 00:00:00')",
        )
    assert _count(engine, "broadcasts") == 0


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        (
            "INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES ('s', '2026-11-27 19:00:00', "
            "'2026-11-27 18:00:00')",
            "ck_broadcasts_ends_after_start",
        ),
        (
            "INSERT INTO broadcasts (stream_id, starts_at, ends_at) "
            "VALUES ('s', '2026-11-27T19:00:00+01:00', '2026-11-27 18:00:00')",
            "ck_broadcasts_ends_after_start",
        ),
        (
            "INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds) VALUES ('s', "
            "'2026-11-27 18:00:00', '2026-11-27 19:00:00', -1)",
            "ck_broadcasts_lead_not_negative",
        ),
        (
            "INSERT INTO broadcasts (stream_id, starts_at, ends_at, reconnect_window) VALUES ('s', "
            "'2026-11-27 18:00:00', '2026-11-27 19:00:00', 30)",
            "ck_broadcasts_reconnect_window_range",
        ),
        (
            "INSERT INTO off_hours (cron, duration_seconds) VALUES ('0 22 * * *', 0)",
            "ck_off_hours_duration_positive",
        ),
    ],
)
def test_constraint_violations_change_nothing(engine: Engine, statement: str, constraint: str) -> None:
    with pytest.raises(DBAPIError, match=constraint):
        _sql(engine, statement)

    assert _count(engine, "broadcasts") == 0
    assert _count(engine, "off_hours") == 0


def test_cancel_with_current_timestamp_is_an_aware_instant(engine: Engine) -> None:
    _sql(
        engine,
        "INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES ('s', '2026-11-27 18:00:00', "
        "'2026-11-27 19:00:00')",
    )
    before = datetime.now(UTC).replace(microsecond=0)

    _sql(engine, "UPDATE broadcasts SET cancelled_at = CURRENT_TIMESTAMP WHERE stream_id = 's'")

    with transaction(engine, immediate=False) as session:
        cancelled_at = session.scalars(select(Broadcast.cancelled_at)).one()
    assert cancelled_at is not None
    assert before <= cancelled_at <= datetime.now(UTC)

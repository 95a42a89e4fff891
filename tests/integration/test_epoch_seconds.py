"""The pages read instants as epoch seconds computed by the database: exact to the millisecond on
both backends, for what onair writes and for what an operator types by hand on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import String, cast, literal, select

from worker.store.db import make_engine
from worker.store.epoch import epoch_seconds, instant

EXPECTED = datetime(2026, 11, 27, 18, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    "typed",
    [
        "2026-11-27 18:00:00.123",  # what onair writes
        "2026-11-27T18:00:00.123",  # no offset: UTC, as docs/schema.md says
        "2026-11-27T18:00:00.123Z",
        "2026-11-27T19:00:00.123+01:00",
    ],
)
def test_sqlite_reads_every_form_of_a_utc_column_to_the_millisecond(typed: str) -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.connect() as conn:
            seconds = conn.execute(select(epoch_seconds(cast(literal(typed), String)))).scalar_one()
    finally:
        engine.dispose()
    assert seconds == EXPECTED.timestamp()
    assert instant(seconds) == EXPECTED


@pytest.mark.postgres
def test_postgresql_reads_a_timestamptz_to_the_microsecond(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    moment = datetime(2026, 11, 27, 18, 0, 0, 123456, tzinfo=UTC)
    try:
        with engine.connect() as conn:
            seconds = conn.execute(select(epoch_seconds(literal(moment)))).scalar_one()
    finally:
        engine.dispose()
    assert isinstance(seconds, float)
    assert seconds == moment.timestamp()

"""How timestamps are stored on SQLite, which keeps no zone and, in onair's form, milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.store.types import parse_stored, to_sqlite_text


def test_sqlite_text_rounds_up_to_the_millisecond_so_nothing_is_stored_earlier_than_given() -> None:
    given = datetime(2026, 11, 27, 23, 59, 59, 999_400, tzinfo=UTC)
    stored = to_sqlite_text(given)
    assert stored == "2026-11-28 00:00:00.000"
    assert parse_stored(stored) >= given


def test_sqlite_text_keeps_a_whole_millisecond_as_it_is() -> None:
    exact = datetime(2026, 11, 27, 18, 0, 0, 123_000, tzinfo=UTC)
    assert to_sqlite_text(exact) == "2026-11-27 18:00:00.123"
    assert parse_stored(to_sqlite_text(exact)) == exact

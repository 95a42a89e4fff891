"""Column types that keep every timestamp an aware UTC datetime on both PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator

# SQLite keeps no zone: onair stores UTC text in one canonical, sortable form, which is also what
# SQLite's own strftime() produces, so triggers can normalise what operators type by hand.
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S"


def to_sqlite_text(value: datetime) -> str:
    """Milliseconds, rounded up: a due time stored on SQLite is never earlier than the one given, so
    an action is never sent before its instant (rounding down made calls arrive up to 1 ms early)."""
    value = value.astimezone(UTC)
    if value.microsecond % 1000:
        value += timedelta(microseconds=1000 - value.microsecond % 1000)
    return f"{value.strftime(SQLITE_FORMAT)}.{value.microsecond // 1000:03d}"


def parse_stored(value: str | datetime) -> datetime:
    """Read a stored timestamp: naive text means UTC (the documented rule for hand-typed SQLite rows)."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to a UTC column")
        if dialect.name == "sqlite":
            return to_sqlite_text(value)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return parse_stored(value)

"""Instants read as seconds since the Unix epoch (a float), computed by the database.

Pages that place thousands of instants (the ops board, a week view) need numbers, not datetime
objects: a float per row costs nothing to read, where parsing and zoning a datetime per row cost
tens of milliseconds. PostgreSQL's date_part gives double precision (EXTRACT gives numeric, which the
driver would turn into Decimal); SQLite's julianday() reads every form a UTC column holds (onair's
canonical text and the ISO 8601 forms operators type), to the millisecond SQLite stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

UNIX_EPOCH_JULIAN_DAY = 2440587.5
DAY_SECONDS = 86400.0


class epoch_seconds(FunctionElement[float]):
    """`epoch_seconds(column)`: the column's instant as float seconds since 1970-01-01 UTC."""

    type = Float()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "postgresql")
def _postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_part('epoch', {compiler.process(element.clauses, **kw)})"


@compiles(epoch_seconds, "sqlite")
def _sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    # julianday() counts whole milliseconds internally; rounding to them undoes the float arithmetic's
    # error (else 23:00:00 could read as 22:59:59.99999 and show as 22:59).
    return f"round((julianday({column}) - {UNIX_EPOCH_JULIAN_DAY}) * {DAY_SECONDS}, 3)"


def instant(seconds: float) -> datetime:
    """The aware UTC datetime of an epoch_seconds value, to the millisecond onair stores."""
    return datetime.fromtimestamp(round(seconds, 3), UTC)

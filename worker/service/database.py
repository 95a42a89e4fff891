"""Opening onair's database for a front door (the CLI, the API): an engine on a schema this code can
use, the schema's migrations, and the read transaction of an API request.

The front doors never write SQL and never import the store: a change is one service function; the
API's reads run in one `reading(engine)` transaction a request, passed to service read functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.store import migrate
from worker.store.db import (
    SchemaError,
    current_revision,
    ensure_schema_current,
    make_engine,
    normalise_url,
    ping,
    transaction,
)

__all__ = [
    "MigrationsNotFound",
    "SchemaError",
    "current_revision",
    "downgrade",
    "ensure_schema_current",
    "head_revision",
    "make_engine",
    "normalise_url",
    "ping",
    "reading",
    "upgrade",
]

MigrationsNotFound = migrate.MigrationsNotFound


def upgrade(engine: Engine, revision: str = "head") -> None:
    migrate.upgrade(engine, revision)


def downgrade(engine: Engine, revision: str) -> None:
    migrate.downgrade(engine, revision)


def head_revision() -> str:
    return migrate.head_revision()


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """One read transaction (on SQLite it takes no write lock)."""
    with transaction(engine, immediate=False) as session:
        yield session

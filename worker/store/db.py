"""Engines, sessions and transactions for SQLite and PostgreSQL, and the schema-version check.

SQLite: WAL (its file truncated after each checkpoint), a 30 s busy timeout, foreign keys on, and
real transactions. The sqlite3 module's own transaction handling is switched off
(isolation_level=None) and SQLAlchemy's "begin" event emits BEGIN itself, as the SQLAlchemy docs
recommend; that is what makes `BEGIN IMMEDIATE` possible, so a writer takes the write lock up front
instead of failing with SQLITE_BUSY when it upgrades a read lock.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
# After a checkpoint resets the WAL, SQLite truncates the file to this size: without it the WAL keeps
# the size of its busiest moment for ever (105 MB seen in a busy night).
SQLITE_WAL_SIZE_LIMIT = 16 * 1024 * 1024
# Execution option read by the "begin" hook: which BEGIN to emit on SQLite.
_BEGIN_OPTION = "onair_sqlite_begin"


class SchemaError(RuntimeError):
    """The database schema does not match what this version of onair needs."""


class SchemaMissing(SchemaError):
    """The database has no onair schema at all."""


class SchemaOutOfDate(SchemaError):
    """The database schema is at another revision than this onair needs."""


def normalise_url(url: str | URL) -> URL:
    """Plain `postgresql://` URLs mean psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:/// or postgresql://"
    )


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute(f"PRAGMA journal_size_limit = {SQLITE_WAL_SIZE_LIMIT}")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine, *, immediate: bool = True) -> Iterator[Session]:
    """A session inside one transaction: committed on success, rolled back on error.

    On SQLite, immediate=True (the default) takes the write lock at BEGIN, waiting up to the busy
    timeout. A deferred transaction that reads and then writes fails at once with "database is
    locked" when another connection wrote in between, so only pure readers should pass
    immediate=False. On PostgreSQL the flag changes nothing: row and advisory locks do that job there.
    """
    if not (immediate and engine.dialect.name == "sqlite"):
        with Session(bind=engine, expire_on_commit=False) as session, session.begin():
            yield session
        return
    # Writers in one process queue on a Python lock, woken the moment it is free; SQLite's own busy
    # handler sleeps up to 100 ms between retries, which made a busy worker wait far longer than the
    # writes took. Other processes are still kept out by BEGIN IMMEDIATE and the busy timeout.
    with _writer_lock(engine), Session(bind=engine, expire_on_commit=False) as session, session.begin():
        # The connection (and so BEGIN) is taken lazily: this first use picks BEGIN IMMEDIATE.
        session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})
        yield session


_writer_locks: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_writer_locks_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock:
    with _writer_locks_guard:
        lock = _writer_locks.get(engine)
        if lock is None:
            lock = _writer_locks[engine] = threading.RLock()
        return lock


def checkpoint(engine: Engine) -> None:
    """On SQLite, copy the WAL back into the database without waiting for anyone (PASSIVE): the
    automatic checkpoint only runs when a commit finds the WAL long, and never while a reader holds
    it, so a busy night's WAL grew without bound. Nothing to do on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def head_revision() -> str:
    from worker.store.migrate import head_revision as _head

    return _head()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None when it has no alembic_version table."""
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, "alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return ",".join(sorted(rows)) if rows else None


def ensure_schema_current(engine: Engine) -> None:
    """Raise SchemaMissing / SchemaOutOfDate, each with the one-line fix, unless the schema is at head."""
    wanted = head_revision()
    found = current_revision(engine)
    url = engine.url.render_as_string(hide_password=True)
    if found is None:
        raise SchemaMissing(f"database {url} has no onair schema: run `onair db upgrade`")
    if found != wanted:
        raise SchemaOutOfDate(f"database schema is at {found}, onair needs {wanted}: run `onair db upgrade`")


def ping(engine: Engine) -> None:
    """Raises SQLAlchemyError when the database does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def analyze(session: Session, table: str) -> None:
    """Refresh PostgreSQL's statistics of one of onair's tables now."""
    session.execute(text(f"ANALYZE {table}"))

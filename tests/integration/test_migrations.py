"""The migrations build exactly the schema models.py describes, on SQLite and PostgreSQL, and undo it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from tests.integration.store_support import BACKENDS, backend_url
from worker.store import migrate
from worker.store.db import SchemaMissing, SchemaOutOfDate, ensure_schema_current, make_engine
from worker.store.models import Base
from worker.store.types import UTCDateTime

ONAIR_TABLES = {"streams", "broadcasts", "off_hours", "actions", "action_events", "scheduler_state"}


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(backend_url(request, tmp_path))
    yield engine
    engine.dispose()


def test_upgrade_matches_models_and_downgrade_removes_everything(empty_engine: Engine) -> None:
    with pytest.raises(SchemaMissing, match=r"run `onair db upgrade`"):
        ensure_schema_current(empty_engine)

    migrate.upgrade(empty_engine)

    ensure_schema_current(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) >= ONAIR_TABLES
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []

    migrate.downgrade(empty_engine, "base")

    assert set(inspect(empty_engine).get_table_names()) - {"alembic_version"} == set()
    with pytest.raises(SchemaMissing):
        ensure_schema_current(empty_engine)


def test_upgrade_twice_is_harmless(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.upgrade(empty_engine)
    ensure_schema_current(empty_engine)


def test_a_schema_at_another_revision_is_refused_with_the_fix(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))

    with pytest.raises(SchemaOutOfDate) as caught:
        ensure_schema_current(empty_engine)

    assert str(caught.value) == (
        f"database schema is at 0000, onair needs {migrate.head_revision()}: run `onair db upgrade`"
    )


def test_every_timestamp_column_is_normalised_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        triggers = dict(
            conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        )
    engine.dispose()
    for table in Base.metadata.sorted_tables:
        columns = [c.name for c in table.columns if isinstance(c.type, UTCDateTime)]
        if not columns:  # action_daily: a date, no instants
            continue
        for kind in ("check_ts_insert", "check_ts_update", "normalise_ts_insert", "normalise_ts_update"):
            sql = triggers[f"trg_{table.name}_{kind}"]
            for column in columns:
                assert f"NEW.{column}" in sql, (table.name, kind, column)


def test_upgrade_refuses_organisers_sharing_a_token_hash_and_names_them(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0004")
    with empty_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO organisers (name, token_hash) VALUES ('Alice', :h), ('Bob', :h), ('Cy', :c)"),
            {"h": "a" * 64, "c": "c" * 64},
        )

    shared = r"^organisers 'Alice', 'Bob' share a token hash: give all but one of each group another"
    with pytest.raises(RuntimeError, match=shared):
        migrate.upgrade(empty_engine)

    with empty_engine.begin() as conn:
        conn.execute(text("UPDATE organisers SET token_hash = :b WHERE name = 'Bob'"), {"b": "b" * 64})
    migrate.upgrade(empty_engine)
    ensure_schema_current(empty_engine)

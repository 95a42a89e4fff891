"""Alembic environment for onair: online migrations only, on onair's own engine setup.

Run through `onair db upgrade` (worker.store.migrate), or `alembic` with the repo-root alembic.ini;
the database URL comes from the engine the caller passes, else `-x url=...`, else ONAIR_DATABASE_URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from worker.config import onair_settings
from worker.store.db import make_engine
from worker.store.models import Base

target_metadata = Base.metadata


def _engine() -> tuple[Engine, bool]:
    given = context.config.attributes.get("engine")
    if isinstance(given, Engine):
        return given, False
    url = context.get_x_argument(as_dictionary=True).get("url") or onair_settings().database_url
    return make_engine(url), True


def run_migrations_online() -> None:
    engine, owned = _engine()
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
                compare_server_default=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("onair migrations run online only: give a database URL")
run_migrations_online()

"""Alembic, driven from code: `onair db upgrade` needs no alembic.ini in the working directory.

The migration scripts live in `migrations/` at the repository root (beside the `worker` package).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class MigrationsNotFound(RuntimeError):
    pass


def alembic_config(engine: Engine | None = None) -> Config:
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise MigrationsNotFound(
            f"onair's migration scripts are not at {MIGRATIONS_DIR}: install onair from its source tree"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if engine is not None:
        # env.py runs on this engine's connection, so SQLite gets onair's pragmas and BEGIN handling.
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads))


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)

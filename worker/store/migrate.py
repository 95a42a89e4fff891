"""Alembic, driven from code: `onair db upgrade` needs no alembic.ini in the working directory.

The migration scripts live in the top-level `migrations/` folder of the source tree and are installed
as the package `worker.migrations` (setup.py maps one to the other), so an editable install and a
wheel find them the same way: through the import system, never relative to a checkout.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

SCRIPTS_PACKAGE = "worker.migrations"


class MigrationsNotFound(RuntimeError):
    pass


def migrations_dir() -> Path:
    """The folder holding env.py and versions/, as installed with the package."""
    try:
        found = resources.files(SCRIPTS_PACKAGE)
    except ModuleNotFoundError:
        found = None
    # Alembic reads its scripts from a real folder: a zipped install has none to give it.
    if not isinstance(found, Path) or not (found / "env.py").is_file():
        raise MigrationsNotFound(
            f"onair's migration scripts ({SCRIPTS_PACKAGE}) are not installed: reinstall onair "
            "(`pip install onair`, or `pip install -e .` in a source tree)"
        )
    return found


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    if engine is not None:
        # env.py runs on this engine's connection, so SQLite gets onair's pragmas and BEGIN handling.
        config.attributes["engine"] = engine
    return config


@cache
def head_revision() -> str:
    """The revision the installed scripts lead to. Read once per process: the scripts ship with the
    code, which does not change under a running process, and reading them takes tens of ms (the ops
    page's health lines ask on every render)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads))


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)

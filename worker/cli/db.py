"""`onair db ...`: create and upgrade the schema, say where it stands, and prune old history."""

from __future__ import annotations

from collections.abc import Callable

import typer
from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from worker.clock import SystemClock
from worker.config import OnairSettings, onair_settings, settings_problem
from worker.service import database, retention
from worker.service.database import SchemaError, current_revision, ensure_schema_current, make_engine

app = typer.Typer(help="Create, upgrade and inspect onair's database schema.", no_args_is_help=True)

UrlOption = typer.Option(None, "--url", help="Database URL (default: ONAIR_DATABASE_URL).")


def _url(url: str | None) -> str:
    return url or onair_settings().database_url


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def upgrade(url: str | None = UrlOption, revision: str = typer.Argument("head")) -> None:
    """Bring the schema up to REVISION (default: the newest). Safe to run again."""
    _migrate(url, lambda engine: database.upgrade(engine, revision), shown=str)


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision; 'base' removes every table."),
    url: str | None = UrlOption,
) -> None:
    """Take the schema back to REVISION. 'base' drops onair's tables and everything in them."""
    _migrate(
        url, lambda engine: database.downgrade(engine, revision), shown=lambda at: at or "base (no tables)"
    )


def _migrate(url: str | None, move: Callable[[Engine], None], *, shown: Callable[[str | None], str]) -> None:
    """Run one migration step, then say where the schema stands; a failure is one `error:` line."""
    engine = make_engine(_url(url))
    try:
        move(engine)
        typer.echo(f"{_safe(_url(url))}: schema at {shown(current_revision(engine))}")
    except (CommandError, SQLAlchemyError, database.MigrationsNotFound) as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    finally:
        engine.dispose()


@app.command()
def current(url: str | None = UrlOption) -> None:
    """Show the schema revision of the database and the one this onair needs."""
    engine = make_engine(_url(url))
    try:
        found = current_revision(engine)
    except SQLAlchemyError as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    finally:
        engine.dispose()
    wanted = database.head_revision()
    status = "up to date" if found == wanted else "run `onair db upgrade`"
    typer.echo(f"{_safe(_url(url))}: schema at {found or 'none'}, onair needs {wanted} ({status})")
    if found != wanted:
        raise typer.Exit(1)


@app.command()
def prune(
    days: int | None = typer.Option(
        None, "--days", min=1, help="Keep this many whole days (default: ONAIR_HISTORY_DAYS, 90)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be deleted; change nothing."),
    url: str | None = UrlOption,
) -> None:
    """Delete finished actions and their history older than the retention, keeping per-day figures,
    and the other history as old: the controls' log, past occurrences of recurring series, webhook
    events, ended pauses, heartbeats of gone workers. Prints the rows per table.

    Pending and claimed actions are never deleted, nor their history, nor a pause in force. The workers
    also run this once a day by themselves.
    """
    try:
        settings = OnairSettings()  # read afresh: a bad value is reported here, not as a traceback
    except ValidationError as exc:
        raise _fail(settings_problem(exc)) from None
    keep = days if days is not None else settings.history_days
    engine = make_engine(url or settings.database_url)
    try:
        ensure_schema_current(engine)
        result = retention.prune(engine, SystemClock().now(), keep, dry_run=dry_run)
    except (SchemaError, SQLAlchemyError) as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    finally:
        engine.dispose()
    verb, summed = ("would delete", "to summarise") if dry_run else ("deleted", "summarised")
    typer.echo(
        f"{verb} {result.actions} finished actions and {result.events} history events due before "
        f"{result.cutoff.isoformat()} ({keep} days kept; {result.days} days {summed} in action_daily)"
    )
    typer.echo(f"rows {'that would be deleted' if dry_run else 'deleted'}, per table:")
    width = max(len(table) for table in result.tables)
    for table, rows in result.tables.items():
        typer.echo(f"  {table:<{width}}  {rows:>9}")
    if result.kept_unfinished:
        typer.echo(
            f"kept {result.kept_unfinished} pending or claimed actions older than that, with their history"
        )
    if result.wal is not None and result.wal[0]:
        typer.echo("the SQLite WAL could not be truncated: a reader held it; the next prune tries again")

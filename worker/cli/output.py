"""Printing for CLI commands: tables for people, JSON for scripts, one-line errors for both.

Errors go to stderr as a single `error: ...` line with exit code 1, never a traceback. Cell text and
error text are printed literally (no rich markup), so `[redacted]` or `[x]` in data stays as written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from worker.config import bad_settings_line

# Piped output has no terminal width; do not squeeze 32-character ids into rich's default 80 columns.
PIPED_WIDTH = 200


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def print_table(columns: Sequence[str], rows: Iterable[Sequence[object]], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(_cell(value)) for value in row))
    _console().print(table)


def print_fields(fields: Iterable[tuple[str, object]], title: str | None = None) -> None:
    """One record as a two-column table of name and value."""
    print_table(("field", "value"), fields, title=title)


def info(message: str) -> None:
    typer.echo(message)


def fail(message: str, exit_code: int = 1) -> NoReturn:
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(exit_code)


@contextmanager
def reporting(*expected: type[BaseException]) -> Iterator[None]:
    """Turn the expected failures into one `error:` line and exit 1; let real bugs raise."""
    try:
        yield
    except expected as exc:
        settings_line = bad_settings_line(exc) if isinstance(exc, ValidationError) else None
        fail(settings_line or str(exc) or type(exc).__name__)


def one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_cell(item) for item in value)
    return str(value)


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=PIPED_WIDTH)
    return console

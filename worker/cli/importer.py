"""`onair import FILE`: many bookings or broadcasts at once, from CSV or iCalendar, all or nothing.

Every row is checked first, exactly as `onair book add` / `onair broadcast add` would check it, plus
(service.imports) against the slots already stored and the other rows of the file. One bad row and
nothing is written: each bad row is listed with its line number and reason, then a summary, exit 1.
When all are good service.imports writes them in one transaction; the planner runs once at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from worker.cli import output
from worker.cli.import_check import Kind, RowRules, check_row
from worker.cli.import_read import ImportFileError, read_file
from worker.cli.timeline import TzOption, open_store, warn_replan
from worker.cli.timeparse import BadInput, zone_named
from worker.clock import SystemClock
from worker.service.errors import SlotConflict
from worker.service.imports import BadRow, Candidate, check_candidates, import_slots

PROGRESS_EVERY = 250


def import_file(
    file: Annotated[Path, typer.Argument(help="A .csv or .ics file (docs/planning.md has both formats).")],
    kind: Annotated[
        Kind, typer.Option("--kind", help="What the rows are: bookings (need an organiser) or broadcasts.")
    ] = Kind.BOOKINGS,
    organiser: Annotated[
        str | None, typer.Option("--organiser", help="The organiser of rows that name none.")
    ] = None,
    tz: TzOption = None,
    allow_past: Annotated[bool, typer.Option("--allow-past", help="Accept starts in the past.")] = False,
) -> None:
    """Import bookings or broadcasts; nothing is written unless every row is good."""
    now = SystemClock().now()
    with open_store() as (settings, engine):
        with output.reporting(BadInput, ImportFileError):
            if tz is not None:
                zone_named(tz)
            if kind is Kind.BROADCASTS and organiser is not None:
                raise BadInput("--organiser makes the rows bookings: drop it, or use --kind bookings")
            read = read_file(file, now=now, horizon=timedelta(days=settings.series_horizon_days))
        rules = RowRules(kind, organiser, tz, settings.default_lead_seconds, now, allow_past)
        with _progress() as progress:
            checking = progress.add_task("checking", total=len(read.rows))
            candidates: list[Candidate] = []
            bad: list[BadRow] = []
            for index, row in enumerate(read.rows, start=1):
                checked = check_row(row, rules)
                if isinstance(checked, Candidate):
                    candidates.append(checked)
                else:
                    bad.append(checked)
                if index % PROGRESS_EVERY == 0:
                    progress.update(checking, completed=index)
            progress.update(checking, completed=len(read.rows))
            found = check_candidates(engine, candidates)
            bad += found.bad
            if bad:
                _refuse(bad, len(read.rows))
            if not found.good:
                output.fail(f"{file} has no rows to import")
            writing = progress.add_task("writing", total=len(found.good))
            with output.reporting(SlotConflict):
                done = import_slots(
                    settings, engine, found, now=now, advance=lambda n: progress.advance(writing, n)
                )
        warn_replan(done.replan_failure)
        ids = done.ids
    what = kind.value if len(ids) != 1 else kind.value[:-1]
    output.info(f"imported {len(ids)} {what} from {file} (ids {min(ids)} to {max(ids)})")
    for note in read.skipped:
        output.info(f"  skipped {note}")


def _refuse(bad: list[BadRow], total: int) -> None:
    reasons: dict[int, list[str]] = {}
    for row in bad:
        reasons.setdefault(row.line, []).append(row.reason)
    for line in sorted(reasons):
        typer.echo(f"line {line}: {output.one_line('; '.join(reasons[line]))}", err=True)
    output.fail(f"{len(reasons)} of {total} row{'s' if total != 1 else ''} are bad: nothing was imported")


@contextmanager
def _progress() -> Iterator[Progress]:
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        yield progress

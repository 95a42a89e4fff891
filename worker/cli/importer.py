"""`onair import FILE`: many bookings or broadcasts at once, from CSV or iCalendar, all or nothing.

Every row is checked first, exactly as `onair book add` / `onair broadcast add` would check it, plus
against the slots already stored and the other rows of the file. One bad row and nothing is written:
each bad row is listed with its line number and reason, then a summary, exit 1. When all are good
they are written in one transaction, under the same per-stream lock as `insert_slot`, and the overlap
check is repeated inside it, so a booking made meanwhile still makes the whole import fail cleanly.
The planner runs once at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.cli import output
from worker.cli.import_check import (
    BadRow,
    Candidate,
    Kind,
    RowRules,
    check_references,
    check_row,
    overlaps_with_stored,
    overlaps_within,
)
from worker.cli.import_read import ImportFileError, read_file
from worker.cli.slot_input import slot_values
from worker.cli.stream_check import FoundStream, register_stream_if_needed
from worker.cli.timeline import TzOption, open_store, replan
from worker.cli.timeparse import BadInput, zone_named
from worker.clock import SystemClock
from worker.store.db import transaction
from worker.store.models import Broadcast
from worker.store.schedules import known_stream_ids
from worker.store.slots import SlotConflict, is_overlap_refusal, lock_stream

WRITE_CHUNK = 1000
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
        found: dict[str, FoundStream] = {}

        def look_up_stream(stream_id: str) -> str | None:
            try:
                stream = register_stream_if_needed(engine, stream_id)
            except BadInput as exc:
                return str(exc)
            if stream is not None:
                found[stream_id] = stream
            return None

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
            with transaction(engine, immediate=False) as session:
                organiser_ids, refused = check_references(
                    candidates, session, known_stream_ids(session), look_up_stream
                )
                refused_lines = {b.line for b in refused}
                good = [c for c in candidates if c.line not in refused_lines]
                bad += refused + overlaps_within(good) + overlaps_with_stored(session, good)
            if bad:
                _refuse(bad, len(read.rows))
            if not good:
                output.fail(f"{file} has no rows to import")
            writing = progress.add_task("writing", total=len(good))
            with output.reporting(SlotConflict), transaction(engine) as session:
                for stream in found.values():
                    stream.save(session, now)
                for stream_id in sorted({c.spec.stream_id for c in good}):
                    lock_stream(session, stream_id)
                # Under the locks now: a slot stored since the check above fails the whole import.
                late = overlaps_with_stored(session, good)
                if late:
                    raise SlotConflict(
                        f"nothing imported: line {late[0].line} {late[0].reason}, written since the file "
                        f"was checked ({len(late)} row{'s' if len(late) != 1 else ''} in all)"
                    )
                ids = _write(session, good, organiser_ids, now, lambda n: progress.advance(writing, n))
        replan(settings, engine)
    what = kind.value if len(ids) != 1 else kind.value[:-1]
    output.info(f"imported {len(ids)} {what} from {file} (ids {min(ids)} to {max(ids)})")
    for note in read.skipped:
        output.info(f"  skipped {note}")


def _write(
    session: Session,
    good: list[Candidate],
    organiser_ids: dict[str, int],
    now: datetime,
    advance: Callable[[int], None],
) -> list[int]:
    values = [
        slot_values(c.spec, now=now, organiser_id=organiser_ids[c.organiser] if c.organiser else None)
        for c in good
    ]
    ids: list[int] = []
    try:
        for first in range(0, len(values), WRITE_CHUNK):
            chunk = values[first : first + WRITE_CHUNK]
            ids.extend(session.scalars(insert(Broadcast).returning(Broadcast.id), chunk))
            advance(len(chunk))
    except IntegrityError as refused:
        if not is_overlap_refusal(refused):
            raise
        raise SlotConflict(
            "nothing imported: the database refused a slot overlapping one written meanwhile (lead included)"
        ) from None
    return ids


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

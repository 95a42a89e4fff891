"""Reading an import file into rows of text fields, each with the line it starts on.

CSV: a header line naming the columns (any order); `stream_id`, `start` and `end` are required.
iCalendar: one row per VEVENT, and one per occurrence of a recurring VEVENT from now to the series
horizon. Each field is kept as text so that `onair import` checks it exactly as `onair broadcast add` /
`onair book add` check what is typed (docs/planning.md has both formats).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from worker.cli.ics import IcsError, ReadEvent, read_events

COLUMNS = ("stream_id", "start", "end", "title", "lead", "organiser", "metadata", "reconnect_window")
REQUIRED = ("stream_id", "start", "end")
ICS_SUFFIXES = (".ics", ".ical", ".icalendar")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (no header, not iCalendar, ...): nothing to list per row."""


@dataclass(frozen=True)
class RawRow:
    """One record of the file: its first line number, its fields (None when empty), and a problem
    already found while reading it, if any."""

    line: int
    fields: dict[str, str | None] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True)
class ReadResult:
    rows: list[RawRow]
    skipped: list[str]


def read_file(path: Path, *, now: datetime, horizon: timedelta) -> ReadResult:
    """Rows of a CSV or iCalendar file; a recurring event's occurrences from `now` to `now + horizon`."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() in ICS_SUFFIXES or text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        return read_ics(text, since=now, until=now + horizon)
    return ReadResult(read_csv(text), [])


def read_csv(text: str) -> list[RawRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(
            "the file is empty: expected a CSV header line such as stream_id,start,end"
        ) from None
    except csv.Error as exc:
        raise ImportFileError(f"line 1: {exc}") from None
    names = [name.strip().lower() for name in header]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise ImportFileError(
            f"line 1: unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the columns are {','.join(COLUMNS)}"
        )
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise ImportFileError(
            f"line 1: the header lacks {', '.join(missing)} (it needs {','.join(REQUIRED)})"
        )
    if len(set(names)) != len(names):
        raise ImportFileError("line 1: a column is named twice")
    rows: list[RawRow] = []
    next_line = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ImportFileError(f"line {next_line}: {exc}") from None
        line, next_line = next_line, reader.line_num + 1
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != len(names):
            rows.append(RawRow(line, problem=f"has {len(record)} fields, the header has {len(names)}"))
            continue
        rows.append(RawRow(line, {n: (cell.strip() or None) for n, cell in zip(names, record, strict=True)}))
    return rows


def read_ics(text: str, *, since: datetime, until: datetime) -> ReadResult:
    try:
        events = read_events(text, since=since, until=until)
    except IcsError as exc:
        raise ImportFileError(str(exc)) from None
    rows: list[RawRow] = []
    skipped: list[str] = []
    for event in events:
        status = (event.text("STATUS") or "").strip().upper()
        kind = (event.text("X-ONAIR-KIND") or "").strip().lower()
        if status == "CANCELLED" or kind == "off-hours":
            what = "a cancelled event" if status == "CANCELLED" else "an off-hours window"
            skipped.append(f"line {event.line}: {what}")
            continue
        rows.append(_event_row(event))
    return ReadResult(rows, skipped)


def _event_row(event: ReadEvent) -> RawRow:
    fields: dict[str, str | None] = {
        "stream_id": event.text("X-ONAIR-STREAM") or event.text("LOCATION"),
        "title": event.text("SUMMARY"),
        "lead": event.text("X-ONAIR-LEAD"),
        "organiser": event.text("X-ONAIR-ORGANISER") or event.param("ORGANIZER", "CN"),
        "metadata": event.text("X-ONAIR-METADATA"),
        "reconnect_window": event.text("X-ONAIR-RECONNECT-WINDOW"),
    }
    for name, column, moment in (("DTSTART", "start", event.time("DTSTART")), ("DTEND", "end", event.end())):
        if moment is None:
            return RawRow(event.line, problem=f"no {name}" + (" and no DURATION" if name == "DTEND" else ""))
        if not isinstance(moment, datetime):
            whole_day = f"{name} {moment.isoformat()} is a whole day: onair needs a start and end time"
            return RawRow(event.line, problem=whole_day)
        fields[column] = _time_text(moment)
    cleaned = {key: (value.strip() or None) if value is not None else None for key, value in fields.items()}
    return RawRow(event.line, cleaned)


def _time_text(moment: datetime) -> str:
    """The time as text parse_instant reads: with its UTC offset, or floating (read in --tz)."""
    if moment.tzinfo is None:
        return moment.isoformat(sep=" ")
    return moment.isoformat()

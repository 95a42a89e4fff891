"""Reading an import file into rows of text fields, each with the line it starts on.

CSV: a header line naming the columns (any order); `stream_id`, `start` and `end` are required.
iCalendar: one row per VEVENT. Each field is kept as text so that `onair import` checks it exactly as
`onair broadcast add` / `onair book add` check what is typed (docs/planning.md has both formats).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from worker.cli.ics import IcsError, ParsedEvent, read_events

COLUMNS = ("stream_id", "start", "end", "title", "lead", "organiser", "metadata", "reconnect_window")
REQUIRED = ("stream_id", "start", "end")
ICS_SUFFIXES = (".ics", ".ical", ".icalendar")
_ICS_DATE_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)")
_ICS_DATE = re.compile(r"\d{8}")


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


def read_file(path: Path) -> ReadResult:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() in ICS_SUFFIXES or text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        return read_ics(text)
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


def read_ics(text: str) -> ReadResult:
    try:
        events = read_events(text)
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


def _event_row(event: ParsedEvent) -> RawRow:
    if "RRULE" in event.properties or "RDATE" in event.properties:
        return RawRow(event.line, problem="recurring events are not imported: use onair broadcast add --cron")
    fields: dict[str, str | None] = {
        "stream_id": event.text("X-ONAIR-STREAM") or event.text("LOCATION"),
        "title": event.text("SUMMARY"),
        "lead": event.text("X-ONAIR-LEAD"),
        "organiser": event.text("X-ONAIR-ORGANISER") or _organizer_name(event),
        "metadata": event.text("X-ONAIR-METADATA"),
        "reconnect_window": event.text("X-ONAIR-RECONNECT-WINDOW"),
    }
    for name, column in (("DTSTART", "start"), ("DTEND", "end")):
        prop = event.properties.get(name)
        if prop is None:
            missing = f"no {name}" + (" (DURATION is not supported: give DTEND)" if name == "DTEND" else "")
            return RawRow(event.line, problem=missing)
        value, problem = _ics_time(name, prop.value.strip(), prop.params)
        if problem is not None:
            return RawRow(event.line, problem=problem)
        fields[column] = value
    cleaned = {key: (value.strip() or None) if value is not None else None for key, value in fields.items()}
    return RawRow(event.line, cleaned)


def _organizer_name(event: ParsedEvent) -> str | None:
    prop = event.properties.get("ORGANIZER")
    return None if prop is None else prop.params.get("CN")


def _ics_time(name: str, value: str, params: dict[str, str]) -> tuple[str | None, str | None]:
    """The time as text parse_instant reads (zone kept: Z, TZID as a zone name, or none), or a problem."""
    if params.get("VALUE", "").upper() == "DATE" or _ICS_DATE.fullmatch(value):
        return None, f"{name} {value!r} is a whole day: onair needs a start and end time"
    match = _ICS_DATE_TIME.fullmatch(value)
    if match is None:
        return None, f"{name} {value!r} is not an iCalendar date-time (YYYYMMDDTHHMMSS, Z for UTC)"
    year, month, day, hour, minute, second, utc = match.groups()
    local = f"{year}-{month}-{day} {hour}:{minute}:{second}"
    if utc:
        return f"{local}Z".replace(" ", "T"), None
    tzid = (params.get("TZID") or "").lstrip("/")
    if " " in tzid:
        return None, f"{name} TZID {tzid!r} is not an IANA zone name such as Europe/Berlin"
    return (f"{local} {tzid}" if tzid else local), None

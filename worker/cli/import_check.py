"""Checking each row of an import file on its own, before anything is written.

Each row goes through `slot_input.read_slot`, the check `onair broadcast add` and `onair book add`
apply. What needs the database (streams, organisers, stored slots) and the overlaps between rows are
checked by service.imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from worker.cli.import_read import RawRow
from worker.cli.slot_input import read_slot
from worker.cli.timeparse import BadInput, parse_metadata_pairs
from worker.domain.specs import parse_metadata
from worker.service.imports import BadRow, Candidate


class Kind(StrEnum):
    BOOKINGS = "bookings"
    BROADCASTS = "broadcasts"


@dataclass(frozen=True)
class RowRules:
    kind: Kind
    organiser: str | None
    tz: str | None
    default_lead_seconds: int
    now: datetime
    allow_past: bool


def check_row(row: RawRow, rules: RowRules) -> Candidate | BadRow:
    """The row on its own (times, lead, title, metadata, reconnect window, organiser present)."""
    if row.problem is not None:
        return BadRow(row.line, row.problem)
    f = row.fields
    try:
        stream = f.get("stream_id")
        if not stream:
            raise BadInput("no stream_id")
        start, end = f.get("start"), f.get("end")
        if not start or not end:
            raise BadInput(f"no {'start' if not start else 'end'}")
        spec = read_slot(
            stream,
            start,
            end,
            tz=rules.tz,
            lead=f.get("lead"),
            default_lead_seconds=rules.default_lead_seconds,
            now=rules.now,
            allow_past=rules.allow_past,
            title=f.get("title"),
            metadata=_metadata(f.get("metadata")),
            reconnect_window=_whole_seconds(f.get("reconnect_window")),
        )
        organiser = f.get("organiser") or rules.organiser
        if rules.kind is Kind.BOOKINGS and not organiser:
            raise BadInput(
                "a booking needs an organiser: an organiser column, --organiser NAME, or --kind broadcasts"
            )
        if rules.kind is Kind.BROADCASTS and f.get("organiser"):
            raise BadInput("has an organiser, so it is a booking: import the file with --kind bookings")
    except BadInput as exc:
        return BadRow(row.line, str(exc))
    return Candidate(row.line, spec, organiser if rules.kind is Kind.BOOKINGS else None)


def _metadata(text: str | None) -> dict[str, str] | None:
    """A JSON object, or `key=value` pairs separated by `;`."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        parsed, reason = parse_metadata(text)
        if reason:
            raise BadInput(reason)
        return parsed
    return parse_metadata_pairs([pair for pair in text.split(";") if pair.strip()])


def _whole_seconds(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadInput(f"reconnect_window {text!r} is not a whole number of seconds") from None

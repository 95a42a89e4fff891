"""Checking every row of an import before anything is written.

Each row goes through `slot_input.read_slot`, the check `onair broadcast add` and `onair book add`
apply. What needs the database is asked once, not once per row: each unknown stream is looked up once
(in `streams`, then at FastPix), each organiser once, and the slots already stored once per stream for
the file's range. Overlaps are found by sorting, never by a query per row: within the file (naming
both lines) and with the stored slots (naming the slot in the way).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.cli.import_read import RawRow
from worker.cli.slot_input import read_slot
from worker.cli.timeparse import BadInput, parse_metadata_pairs
from worker.domain.specs import BroadcastSpec, parse_metadata
from worker.store.models import Broadcast
from worker.store.organisers import OrganiserError, require_organiser
from worker.store.slots import describe_slot, show_span


class Kind(StrEnum):
    BOOKINGS = "bookings"
    BROADCASTS = "broadcasts"


@dataclass(frozen=True)
class Candidate:
    """A row that passed every check of its own: the slot, and the organiser of a booking."""

    line: int
    spec: BroadcastSpec
    organiser: str | None


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


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


def check_references(
    candidates: list[Candidate],
    session: Session,
    known_streams: set[str],
    look_up_stream: Callable[[str], str | None],
) -> tuple[dict[str, int], list[BadRow]]:
    """Organisers and streams, each asked once. Returns organiser ids by name and the rows refused.

    `look_up_stream(id)` returns None when the stream can be used, else why not (it is called once per
    stream not in `known_streams`)."""
    stream_problem: dict[str, str | None] = {}
    organiser_ids: dict[str, int] = {}
    organiser_problem: dict[str, str] = {}
    bad: list[BadRow] = []
    for candidate in candidates:
        stream = candidate.spec.stream_id
        if stream not in known_streams and stream not in stream_problem:
            stream_problem[stream] = look_up_stream(stream)
        name = candidate.organiser
        if name is not None and name not in organiser_ids and name not in organiser_problem:
            try:
                organiser_ids[name] = require_organiser(session, name).id
            except OrganiserError as exc:
                organiser_problem[name] = str(exc)
        reason = stream_problem.get(stream) or (organiser_problem.get(name) if name else None)
        if reason:
            bad.append(BadRow(candidate.line, reason))
    return organiser_ids, bad


def overlaps_within(candidates: Iterable[Candidate]) -> list[BadRow]:
    """Rows of the file whose slots overlap on one stream (lead included): the later one is refused,
    naming the line it collides with."""
    bad: list[BadRow] = []
    for rows in _by_stream(candidates).values():
        rows.sort(key=lambda c: (c.spec.slot_start, c.line))
        reach: Candidate | None = None
        for row in rows:
            if reach is not None and row.spec.slot_start < reach.spec.ends_at:
                bad.append(
                    BadRow(
                        row.line,
                        f"overlaps line {reach.line} on stream {row.spec.stream_id}: "
                        f"{show_span(row.spec.slot_start, row.spec.ends_at)} and "
                        f"{show_span(reach.spec.slot_start, reach.spec.ends_at)} (lead included)",
                    )
                )
            if reach is None or row.spec.ends_at > reach.spec.ends_at:
                reach = row
    return bad


def overlaps_with_stored(session: Session, candidates: Iterable[Candidate]) -> list[BadRow]:
    """Rows whose slot overlaps a stored, non-cancelled slot: one query per stream for the file's range."""
    bad: list[BadRow] = []
    for stream, rows in _by_stream(candidates).items():
        low = min(c.spec.slot_start for c in rows)
        high = max(c.spec.ends_at for c in rows)
        stored = list(
            session.scalars(
                select(Broadcast)
                .where(
                    Broadcast.stream_id == stream,
                    Broadcast.cancelled_at.is_(None),
                    Broadcast.slot_starts_at < high,
                    Broadcast.ends_at > low,
                )
                .order_by(Broadcast.slot_starts_at, Broadcast.id)
            )
        )
        if not stored:
            continue
        # Stored slots never overlap each other, so sorted by start they are sorted by end too.
        ends = [s.ends_at for s in stored]
        for row in rows:
            index = bisect_right(ends, row.spec.slot_start)
            if index < len(stored) and stored[index].slot_starts_at < row.spec.ends_at:
                other = stored[index]
                bad.append(BadRow(row.line, f"overlaps {describe_slot(other)} (lead included)"))
    return bad


def _by_stream(candidates: Iterable[Candidate]) -> dict[str, list[Candidate]]:
    grouped: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        grouped[candidate.spec.stream_id].append(candidate)
    return grouped

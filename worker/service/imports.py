"""Importing many bookings or broadcasts at once, all or nothing (`onair import FILE`).

The front door reads the file and checks each row on its own (service.slots, as for one typed slot),
giving `Candidate`s. Here they are checked against what needs the database, asked once and not once
per row: each unknown stream once (in `streams`, then at FastPix), each organiser once, and the stored
slots once per stream for the file's range. Overlaps are found by sorting, never by a query per row:
within the file (naming both lines) and with the stored slots (naming the slot in the way). The write
is one transaction, under the same per-stream lock as `insert_slot`, and the overlap check is repeated
inside it, so a booking made meanwhile still makes the whole import fail cleanly.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.specs import BroadcastSpec
from worker.domain.text import show_span
from worker.service.errors import InvalidInput, SlotConflict
from worker.service.organisers import organiser_ids
from worker.service.replanning import CLI_WAIT_SECONDS, replan
from worker.service.slots import slot_values
from worker.service.streams_lookup import FoundStream, register_stream_if_needed
from worker.store.db import transaction
from worker.store.schedules import known_stream_ids
from worker.store.slots import describe_slot, insert_many, lock_stream, stored_slots


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
class Checked:
    good: list[Candidate]
    bad: list[BadRow]
    organiser_ids: dict[str, int]
    found_streams: dict[str, FoundStream]  # streams FastPix confirmed, to record with the import


@dataclass(frozen=True)
class Imported:
    ids: list[int]
    replan_failure: str | None = None


def check_candidates(engine: Engine, candidates: list[Candidate]) -> Checked:
    """Organisers and streams, each asked once, and the overlaps within the file and with stored slots."""
    found: dict[str, FoundStream] = {}
    stream_problem: dict[str, str | None] = {}

    def look_up(stream_id: str) -> str | None:
        if stream_id not in stream_problem:
            try:
                stream = register_stream_if_needed(engine, stream_id)
            except InvalidInput as exc:
                stream_problem[stream_id] = str(exc)
            else:
                stream_problem[stream_id] = None
                if stream is not None:
                    found[stream_id] = stream
        return stream_problem[stream_id]

    with transaction(engine, immediate=False) as session:
        known = known_stream_ids(session)
        names = {c.organiser for c in candidates if c.organiser is not None}
        ids, organiser_problem = organiser_ids(session, names)
        bad: list[BadRow] = []
        for candidate in candidates:
            stream = candidate.spec.stream_id
            reason = (None if stream in known else look_up(stream)) or (
                organiser_problem.get(candidate.organiser) if candidate.organiser else None
            )
            if reason:
                bad.append(BadRow(candidate.line, reason))
        refused_lines = {b.line for b in bad}
        good = [c for c in candidates if c.line not in refused_lines]
        bad += overlaps_within(good) + overlaps_with_stored(session, good)
    return Checked(good, bad, ids, found)


def import_slots(
    settings: OnairSettings,
    engine: Engine,
    checked: Checked,
    *,
    now: datetime,
    advance: Callable[[int], None] = lambda n: None,
    clock: Clock | None = None,
) -> Imported:
    """Write every good row in one transaction (SlotConflict, and nothing written, when a slot stored
    since the check is in the way), then re-plan once."""
    good = checked.good
    with transaction(engine) as session:
        for stream in checked.found_streams.values():
            stream.save(session, now)
        for stream_id in sorted({c.spec.stream_id for c in good}):
            lock_stream(session, stream_id)
        # Under the locks now: a slot stored since the check fails the whole import.
        late = overlaps_with_stored(session, good)
        if late:
            raise SlotConflict(
                f"nothing imported: line {late[0].line} {late[0].reason}, written since the file "
                f"was checked ({len(late)} row{'s' if len(late) != 1 else ''} in all)"
            )
        values = [
            slot_values(
                c.spec, now=now, organiser_id=checked.organiser_ids[c.organiser] if c.organiser else None
            )
            for c in good
        ]
        ids = insert_many(session, values, advance)
    return Imported(ids, replan(settings, engine, clock=clock, wait=CLI_WAIT_SECONDS).failure)


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
        stored = stored_slots(session, stream, low, high)
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

"""Bookings: an organiser's slots on shared streams, as the HTTP API (and any other front end) makes them.

A booking is a broadcasts row with organiser_id set. The no-overlap rule lives in store.slots (and in
the database itself); this module adds what a booking needs around it: checks that name the field at
fault, ownership (an organiser sees and changes only their own bookings), and a re-plan right after
each change so the ledger shows the result at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from worker.clock import Clock
from worker.config import FastPixSettings, OnairSettings
from worker.domain.specs import BroadcastSpec, check_broadcast
from worker.service.planning import PlanReport, plan_tick
from worker.service.runtime import Runtime
from worker.service.text import text_problem
from worker.store.events import record_event
from worker.store.models import Broadcast
from worker.store.schedules import MAX_SPAN
from worker.store.slots import insert_slot, move_slot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input field, said so that the person can fix it."""

    field: str
    message: str


class InvalidBooking(ValueError):
    """The booking cannot be written as asked; `problems` names each field at fault."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class BookingNotFound(LookupError):
    """No booking of this organiser has that id (it may not exist, or belong to someone else)."""


class BookingClosed(ValueError):
    """The booking is cancelled or has ended, so it can no longer be changed."""


@dataclass(frozen=True)
class BookingInput:
    stream_id: str
    starts_at: datetime
    ends_at: datetime
    lead_seconds: int
    title: str | None


def booking_problems(
    wanted: BookingInput, *, now: datetime, known_streams: set[str], start_changed: bool = True
) -> list[Problem]:
    """Every reason the booking cannot be made, each naming its field; empty when it can.

    A start in the past is refused only when the start is being set (moving the end of a booking that
    is on air is fine).
    """
    problems: list[Problem] = []
    if wanted.stream_id not in known_streams:
        problems.append(
            Problem("stream_id", f"unknown stream {wanted.stream_id!r}: GET /v1/streams lists the streams")
        )
    if wanted.ends_at <= wanted.starts_at:
        problems.append(
            Problem("end", f"end {iso_z(wanted.ends_at)} is not after start {iso_z(wanted.starts_at)}")
        )
    if start_changed and wanted.starts_at < now:
        problems.append(
            Problem("start", f"start {iso_z(wanted.starts_at)} is in the past (now {iso_z(now)})")
        )
    if wanted.ends_at <= now:
        problems.append(Problem("end", f"end {iso_z(wanted.ends_at)} is in the past (now {iso_z(now)})"))
    if wanted.lead_seconds < 0:
        problems.append(Problem("lead_seconds", f"lead_seconds {wanted.lead_seconds} is negative"))
    title_problem = text_problem("title", wanted.title)
    if title_problem:
        problems.append(Problem("title", title_problem))
    span = wanted.ends_at - (wanted.starts_at - timedelta(seconds=max(wanted.lead_seconds, 0)))
    if not problems and span > MAX_SPAN:
        problems.append(
            Problem("end", f"lead plus duration is {span}; at most {MAX_SPAN.days} days: split the booking")
        )
    if not problems:
        # The planner's own checks, so nothing accepted here is flagged invalid later.
        spec = BroadcastSpec(
            id=0,
            stream_id=wanted.stream_id,
            starts_at=wanted.starts_at,
            ends_at=wanted.ends_at,
            lead=timedelta(seconds=wanted.lead_seconds),
            title=wanted.title,
        )
        problems.extend(Problem("booking", reason) for reason in check_broadcast(spec, known_streams))
    return problems


def create_booking(session: Session, organiser_id: int, wanted: BookingInput, *, now: datetime) -> Broadcast:
    """Insert the booking; SlotConflict (from store.slots) when its slot overlaps another."""
    row = Broadcast(
        stream_id=wanted.stream_id,
        starts_at=wanted.starts_at,
        ends_at=wanted.ends_at,
        lead_seconds=wanted.lead_seconds,
        title=wanted.title,
        organiser_id=organiser_id,
        created_at=now,
        updated_at=now,
    )
    return insert_slot(session, row)


def own_booking(session: Session, organiser_id: int, booking_id: int) -> Broadcast:
    """The organiser's booking with this id; BookingNotFound for anyone else's row or an ops broadcast."""
    row = session.get(Broadcast, booking_id)
    if row is None or row.organiser_id != organiser_id:
        raise BookingNotFound(f"you have no booking with id {booking_id}")
    return row


def bookings_of(session: Session, organiser_id: int, *, now: datetime, include_past: bool) -> list[Broadcast]:
    """The organiser's bookings, earliest first: upcoming and running ones, or all with include_past."""
    query = select(Broadcast).where(Broadcast.organiser_id == organiser_id)
    if not include_past:
        query = query.where(Broadcast.cancelled_at.is_(None), Broadcast.ends_at > now)
    return list(session.scalars(query.order_by(Broadcast.starts_at, Broadcast.id)))


def ensure_open(row: Broadcast, now: datetime) -> None:
    if row.cancelled_at is not None:
        raise BookingClosed(f"booking {row.id} was cancelled at {iso_z(row.cancelled_at)}: book a new slot")
    if row.ends_at <= now:
        raise BookingClosed(f"booking {row.id} ended at {iso_z(row.ends_at)}: it can no longer change")


def change_booking(
    session: Session,
    row: Broadcast,
    *,
    starts_at: datetime,
    ends_at: datetime,
    title: str | None,
    now: datetime,
    actor: str = "api",
) -> Broadcast:
    """Give an open booking new times and title. SlotConflict when the new slot overlaps another. The
    change goes to the stream's history as `actor`'s (the organiser, through the API)."""
    ensure_open(row, now)
    said = []
    if (starts_at, ends_at) != (row.starts_at, row.ends_at):
        said.append(
            f"moved from {iso_z(row.starts_at)}-{iso_z(row.ends_at)} to {iso_z(starts_at)}-{iso_z(ends_at)}"
        )
        row = move_slot(session, row.id, starts_at=starts_at, ends_at=ends_at, now=now)
    if title != row.title:
        said.append(f"title {row.title!r} -> {title!r}")
        row.title, row.updated_at = title, now
        session.flush()
    if said:
        record_event(
            session,
            action_id=None,
            stream_id=row.stream_id,
            actor=actor,
            event="broadcast_changed",
            detail=f"booking #{row.id} {'; '.join(said)} (by {actor})",
            now=now,
        )
    return row


def cancel_booking(session: Session, row: Broadcast, *, now: datetime) -> Broadcast:
    """Cancel the booking (its slot is free at once). Cancelling a cancelled booking changes nothing."""
    if row.cancelled_at is not None:
        return row
    ensure_open(row, now)
    row.cancelled_at, row.updated_at = now, now
    session.flush()
    return row


# A planner tick under way meanwhile sees the change too; the request waits at most this for it.
REPLAN_WAIT_SECONDS = 2.0


def replan_now(settings: OnairSettings, engine: Engine, clock: Clock) -> PlanReport | None:
    """Run the planner at once after a change. A failure loses nothing (the scheduler re-plans every
    few seconds), so it is logged, not raised."""
    try:
        rt = Runtime(settings, FastPixSettings(), clock=clock)
        rt.engine = engine
        return plan_tick(rt, wait=REPLAN_WAIT_SECONDS, scheduler=False)
    except (SQLAlchemyError, ValueError) as exc:
        log.warning("saved, but planning now failed (%s); the scheduler will plan it", type(exc).__name__)
        return None


def iso_z(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`: `2026-12-01T18:00:00Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

"""Rows as the API shows them, to one caller: their own bookings in full, everyone else's as "busy".

Another organiser's name or title never leaves here: a slot that is not the caller's shows only its
times, and an action that is not for the caller's booking gets a neutral reason (the planner's own
reasons name bookings and their organisers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from worker.api.schemas import ActionOut, BookingOut, BusySlot, FreeSlot, ViewersOut
from worker.api.times import iso_z, local_iso
from worker.domain.causes import describe_failure
from worker.domain.signal import Report
from worker.domain.types import ActionState, Source
from worker.domain.viewers import ViewerFigures
from worker.service.outcomes import verdict
from worker.service.records import Action, Broadcast

_NEUTRAL_REASONS = {
    (Source.BROADCAST.value, "enable"): "enable before a slot on this stream",
    (Source.BROADCAST.value, "update"): "apply a slot's stream settings at its start",
    (Source.BROADCAST.value, "finish"): "finish a slot at its end",
    (Source.BROADCAST.value, "restore"): "put the stream's metadata back after a slot",
    (Source.BROADCAST.value, "disable"): "disable the stream after a slot (its between-slots policy)",
    (Source.OFF_HOURS.value, "disable"): "disable the stream for off-hours",
    (Source.OFF_HOURS.value, "enable"): "enable the stream when off-hours end",
}


def status_of(row: Broadcast, now: datetime) -> str:
    if row.cancelled_at is not None:
        return "cancelled"
    if row.ends_at <= now:
        return "ended"
    return "on_air" if row.starts_at <= now else "scheduled"


def busy_slot(row: Broadcast, caller_id: int, zone: tzinfo | None) -> BusySlot:
    mine = row.organiser_id == caller_id
    return BusySlot(
        start=iso_z(row.slot_starts_at),
        end=iso_z(row.ends_at),
        start_local=local_iso(row.slot_starts_at, zone),
        end_local=local_iso(row.ends_at, zone),
        mine=mine,
        booking_id=row.id if mine else None,
        title=row.title if mine else None,
    )


def free_slot(start: datetime, end: datetime, zone: tzinfo | None) -> FreeSlot:
    return FreeSlot(
        start=iso_z(start), end=iso_z(end), start_local=local_iso(start, zone), end_local=local_iso(end, zone)
    )


def action_out(
    row: Action, caller_id: int, owners: Mapping[int, int | None], zone: tzinfo | None
) -> ActionOut:
    is_booking = row.source == Source.BROADCAST.value and row.source_id is not None
    mine = is_booking and row.source_id is not None and owners.get(row.source_id) == caller_id
    reason = row.reason if mine else _NEUTRAL_REASONS.get((row.source, row.kind), f"{row.kind} the stream")
    return ActionOut(
        id=row.id,
        due_at=iso_z(row.due_at),
        due_at_local=local_iso(row.due_at, zone),
        kind=row.kind,
        stream_id=row.stream_id,
        state=row.state,
        reason=reason,
        mine=mine,
        booking_id=row.source_id if mine else None,
        cause=_cause(row) if mine else None,
    )


def _cause(row: Action) -> str | None:
    if row.state not in (ActionState.FAILED.value, ActionState.MISSED.value):
        return None
    return describe_failure(row.state, row.outcome, row.last_error) or None


def booking_out(
    row: Broadcast,
    actions: list[Action],
    zone: tzinfo | None,
    now: datetime,
    signal: Sequence[Report] | None = None,
    viewers: ViewerFigures | None = None,
) -> BookingOut:
    """`signal`: the stream's reported statuses around the slot (outcomes.signals_of), if any;
    `viewers`: its viewer-count figures, if it was sampled."""
    assert row.organiser_id is not None
    owners = {row.id: row.organiser_id}
    happened = verdict(row, actions, now, signal)
    return BookingOut(
        id=row.id,
        stream_id=row.stream_id,
        start=iso_z(row.starts_at),
        end=iso_z(row.ends_at),
        slot_start=iso_z(row.slot_starts_at),
        start_local=local_iso(row.starts_at, zone),
        end_local=local_iso(row.ends_at, zone),
        lead_seconds=row.lead_seconds,
        title=row.title,
        status=status_of(row, now),
        outcome=happened.outcome.value,
        outcome_cause=happened.cause,
        live_minutes=happened.live_minutes,
        viewers=None if viewers is None else viewers_out(viewers),
        cancelled_at=iso_z(row.cancelled_at) if row.cancelled_at is not None else None,
        created_at=iso_z(row.created_at),
        actions=[action_out(a, row.organiser_id, owners, zone) for a in actions],
    )


def viewers_out(figures: ViewerFigures) -> ViewersOut:
    average = figures.average
    return ViewersOut(
        peak=figures.peak,
        peak_at=None if figures.peak_at is None else iso_z(figures.peak_at),
        average=None if average is None else round(average, 1),
        samples=figures.samples,
        failures=figures.failures,
    )


def free_between(
    busy: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The gaps in [start, end) not covered by any busy interval (which may overlap or stick out)."""
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for busy_start, busy_end in sorted(busy):
        if busy_start > cursor:
            gaps.append((cursor, min(busy_start, end)))
        cursor = max(cursor, busy_end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [(a, b) for a, b in gaps if a < b]

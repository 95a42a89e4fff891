"""Changing a broadcast or booking that exists: `onair broadcast move|edit`, `onair book move` (and the
booking API's move goes through the same store rules). Held to the rules of creation (end after start,
a known stream, the slot's span, no overlap with the lead included, text and metadata checks), re-planned
at once, and recorded in the stream's history with who changed what."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.specs import BroadcastSpec, check_broadcast
from worker.service.refusal import NotFound, Refused, check_note
from worker.service.replanning import API_WAIT_SECONDS, replan
from worker.service.text import text_problem
from worker.store import changes
from worker.store.db import transaction
from worker.store.events import record_event
from worker.store.models import Broadcast
from worker.store.schedules import MAX_SPAN
from worker.store.slots import SlotConflict, move_slot, slot_label


@dataclass(frozen=True)
class Edit:
    """What `onair broadcast edit` may change; None leaves a field as it is (`clear_title` empties it)."""

    title: str | None = None
    clear_title: bool = False
    lead: timedelta | None = None
    metadata: Mapping[str, str] | None = None
    clear_metadata: bool = False
    reconnect_window: int | None = None


def move_broadcast(
    settings: OnairSettings,
    engine: Engine,
    clock: Clock,
    broadcast_id: int,
    *,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
    allow_past: bool = False,
    bookings_only: bool = False,
    note: str | None = None,
) -> Broadcast:
    """New times for a broadcast (or booking); Refused naming the field, nothing changed, when the slot
    breaks a creation rule or collides (the collision explains a lead that causes it)."""
    check_note(note)
    now = clock.now()
    with transaction(engine) as session:
        row = _open_row(session, broadcast_id, now, bookings_only=bookings_only)
        spec = replace(BroadcastSpec.from_row(row), starts_at=starts_at, ends_at=ends_at)
        _check_spec(spec, now, start_changed=starts_at != row.starts_at and not allow_past)
        before = _span(row)
        try:
            row = move_slot(session, row.id, starts_at=starts_at, ends_at=ends_at, now=now)
        except SlotConflict as exc:
            raise Refused("start", str(exc)) from None
        _record(session, row, actor, now, f"{slot_label(row)} moved from {before} to {_span(row)}", note)
        moved = row
    replan(settings, engine, clock=clock, wait=API_WAIT_SECONDS)
    return moved


def edit_broadcast(
    settings: OnairSettings,
    engine: Engine,
    clock: Clock,
    broadcast_id: int,
    edit: Edit,
    *,
    actor: str,
    note: str | None = None,
) -> Broadcast:
    """Change a broadcast's title, lead, metadata or reconnect window (checked as at creation)."""
    check_note(note)
    now = clock.now()
    with transaction(engine) as session:
        row = _open_row(session, broadcast_id, now, bookings_only=False)
        spec = BroadcastSpec.from_row(row)
        said: list[str] = []
        if edit.title is not None or edit.clear_title:
            spec = replace(spec, title=None if edit.clear_title else edit.title)
            said.append(f"title {row.title!r} -> {spec.title!r}")
        if edit.lead is not None:
            spec = replace(spec, lead=edit.lead)
            said.append(f"lead {row.lead_seconds} s -> {int(edit.lead.total_seconds())} s")
        if edit.metadata is not None or edit.clear_metadata:
            spec = replace(spec, metadata=None if edit.clear_metadata else dict(edit.metadata or {}))
            said.append(
                "metadata cleared" if edit.clear_metadata else f"metadata {dict(edit.metadata or {})}"
            )
        if edit.reconnect_window is not None:
            spec = replace(spec, reconnect_window=edit.reconnect_window)
            said.append(f"reconnect window {row.reconnect_window} -> {edit.reconnect_window} s")
        if not said:
            raise Refused("edit", "nothing to change: give --title, --lead, --metadata or --reconnect-window")
        _check_spec(spec, now, start_changed=False)
        if edit.lead is not None and int(edit.lead.total_seconds()) != row.lead_seconds:
            try:
                row = move_slot(
                    session,
                    row.id,
                    starts_at=row.starts_at,
                    ends_at=row.ends_at,
                    now=now,
                    lead_seconds=int(edit.lead.total_seconds()),
                )
            except SlotConflict as exc:
                raise Refused("lead", str(exc)) from None
        metadata = spec.metadata if isinstance(spec.metadata, Mapping) else None
        changes.set_details(
            session,
            row,
            title=spec.title,
            metadata_json=json.dumps(dict(metadata), sort_keys=True) if metadata else None,
            reconnect_window=spec.reconnect_window,
            now=now,
        )
        _record(session, row, actor, now, f"{slot_label(row)} edited: {'; '.join(said)}", note)
        edited = row
    replan(settings, engine, clock=clock, wait=API_WAIT_SECONDS)
    return edited


def _open_row(session: Session, broadcast_id: int, now: datetime, *, bookings_only: bool) -> Broadcast:
    row = changes.find_broadcast(session, broadcast_id)
    what = "booking" if bookings_only else "broadcast"
    if row is None or (bookings_only and row.organiser_id is None):
        raise NotFound(
            "id",
            f"no {what} with id {broadcast_id} "
            f"(see `onair {'book' if bookings_only else 'broadcast'} list --all`)",
        )
    if row.cancelled_at is not None:
        raise Refused("id", f"{what} {broadcast_id} was cancelled at {_utc(row.cancelled_at)}: add a new one")
    if row.ends_at <= now:
        raise Refused("id", f"{what} {broadcast_id} ended at {_utc(row.ends_at)}: it can no longer change")
    if row.series_id is not None:
        raise Refused(
            "id",
            f"broadcast {broadcast_id} is an occurrence of series {row.series_id}: change the series "
            f"(`onair series edit {row.series_id}`) or skip that date",
        )
    return row


def _check_spec(spec: BroadcastSpec, now: datetime, *, start_changed: bool) -> None:
    """The creation rules (slot_input / booking checks): the planner's own, text, span, start not past."""
    reasons = check_broadcast(spec, {spec.stream_id})
    if reasons:
        raise Refused(_field_of(reasons[0]), "; ".join(reasons))
    title = text_problem("title", spec.title)
    if title:
        raise Refused("title", title)
    if spec.ends_at - spec.slot_start > MAX_SPAN:
        raise Refused(
            "end", f"lead plus duration is {spec.ends_at - spec.slot_start}; at most {MAX_SPAN}: split it"
        )
    if start_changed and spec.starts_at < now:
        raise Refused(
            "start",
            f"start {_utc(spec.starts_at)} is in the past (now {_utc(now)}): "
            "pass --allow-past to record it anyway",
        )
    if spec.ends_at <= now:
        raise Refused("end", f"end {_utc(spec.ends_at)} is in the past (now {_utc(now)})")


_FIELDS = (
    ("end ", "end"),
    ("lead", "lead"),
    ("metadata", "metadata"),
    ("reconnect", "reconnect_window"),
    ("title", "title"),
)


def _field_of(reason: str) -> str:
    return next((field for prefix, field in _FIELDS if reason.startswith(prefix)), "broadcast")


def _record(
    session: Session, row: Broadcast, actor: str, now: datetime, detail: str, note: str | None
) -> None:
    record_event(
        session,
        action_id=None,
        stream_id=row.stream_id,
        actor=actor,
        event="broadcast_changed",
        detail=f"{detail} (by {actor}{f': {note}' if note else ''})",
        now=now,
    )


def _span(row: Broadcast) -> str:
    return f"{_utc(row.starts_at)}-{_utc(row.ends_at)} (lead {row.lead_seconds} s)"


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

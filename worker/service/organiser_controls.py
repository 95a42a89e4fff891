"""`onair organiser rotate|restore`: a new token for an organiser (the old one stops at once, their
bookings stay), and undoing a revoke. Both recorded in the history with who did it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.service.refusal import Refused, check_note
from worker.store import organisers
from worker.store.db import transaction
from worker.store.events import record_event

T = TypeVar("T")


def rotate(engine: Engine, name: str, *, actor: str, now: datetime, note: str | None = None) -> str:
    """The organiser's new token (to hand over once; only its hash is kept)."""
    _, token = _recorded(
        engine,
        name,
        organisers.rotate_token,
        event="organiser_rotated",
        detail=lambda done: f"organiser {done[0].name!r} has a new token; the old one no longer works",
        actor=actor,
        now=now,
        note=note,
    )
    return token


def restore(engine: Engine, name: str, *, actor: str, now: datetime, note: str | None = None) -> None:
    _recorded(
        engine,
        name,
        organisers.restore_organiser,
        event="organiser_restored",
        detail=lambda row: f"organiser {row.name!r} restored: their token works again",
        actor=actor,
        now=now,
        note=note,
    )


def _recorded(
    engine: Engine,
    name: str,
    change: Callable[[Session, str], T],
    *,
    event: str,
    detail: Callable[[T], str],
    actor: str,
    now: datetime,
    note: str | None,
) -> T:
    """Make the change to the organiser named (Refused naming `name` when the store refuses it) and
    record it in the history, in one transaction."""
    check_note(note)
    with transaction(engine) as session:
        try:
            done = change(session, name)
        except organisers.OrganiserError as exc:
            raise Refused("name", str(exc)) from None
        why = f": {note}" if note else ""
        record_event(
            session,
            action_id=None,
            stream_id=None,
            actor=actor,
            event=event,
            detail=f"{detail(done)}{why}",
            now=now,
        )
    return done

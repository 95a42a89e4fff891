"""`onair organiser rotate|restore`: a new token for an organiser (the old one stops at once, their
bookings stay), and undoing a revoke. Both recorded in the history with who did it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from worker.service.refusal import Refused, check_note
from worker.store import organisers
from worker.store.db import transaction
from worker.store.events import record_event


def rotate(engine: Engine, name: str, *, actor: str, now: datetime, note: str | None = None) -> str:
    """The organiser's new token (to hand over once; only its hash is kept)."""
    check_note(note)
    with transaction(engine) as session:
        try:
            row, token = organisers.rotate_token(session, name)
        except organisers.OrganiserError as exc:
            raise Refused("name", str(exc)) from None
        why = f": {note}" if note else ""
        record_event(
            session,
            action_id=None,
            stream_id=None,
            actor=actor,
            event="organiser_rotated",
            detail=f"organiser {row.name!r} has a new token; the old one no longer works{why}",
            now=now,
        )
    return token


def restore(engine: Engine, name: str, *, actor: str, now: datetime, note: str | None = None) -> None:
    check_note(note)
    with transaction(engine) as session:
        try:
            row = organisers.restore_organiser(session, name)
        except organisers.OrganiserError as exc:
            raise Refused("name", str(exc)) from None
        why = f": {note}" if note else ""
        record_event(
            session,
            action_id=None,
            stream_id=None,
            actor=actor,
            event="organiser_restored",
            detail=f"organiser {row.name!r} restored: their token works again{why}",
            now=now,
        )

"""What the booking API reads for an organiser: their bookings with their actions, the slots on each
stream (theirs and everyone else's), the plan, and who booked what (so the API shows another
organiser's slot only as busy time). Each reads in the caller's session: one transaction a request."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.domain.types import Source
from worker.store import observations, views
from worker.store.db import transaction
from worker.store.feeds import organiser_of_feed
from worker.store.models import Action, Broadcast, Organiser, Stream


def actions_of(session: Session, booking_ids: Collection[int]) -> dict[int, list[Action]]:
    """Each booking's actions in the ledger, earliest first."""
    return observations.actions_of_broadcasts(session, booking_ids)


def owners_of(session: Session, actions: Iterable[Action]) -> dict[int, int | None]:
    """Who booked each broadcast these actions come from (None for an ops broadcast)."""
    ids = {a.source_id for a in actions if a.source == Source.BROADCAST.value and a.source_id is not None}
    return views.broadcast_owners(session, ids)


def conflicting_slots(engine: Engine, ids: Collection[int]) -> list[Broadcast]:
    """The slots a refused booking collided with, by slot start."""
    with transaction(engine, immediate=False) as session:
        return views.broadcasts_by_ids(session, ids)


def slots_by_stream(session: Session, start: datetime, end: datetime) -> list[tuple[Stream, list[Broadcast]]]:
    """Every stream, with its slots (not cancelled) that touch [start, end), by slot start."""
    by_stream: dict[str, list[Broadcast]] = {}
    for row in views.slots_between(session, start, end):
        by_stream.setdefault(row.stream_id, []).append(row)
    return [(stream, by_stream.get(stream.stream_id, [])) for stream in views.streams(session)]


def is_known_stream(session: Session, stream_id: str) -> bool:
    return views.find(session, Stream, stream_id) is not None


def plan(session: Session, until: datetime, stream: str | None) -> list[Action]:
    """Pending and running actions due by `until`, on every stream or one, earliest first."""
    return views.actions_under_way(session, until, stream)


def organiser_of(session: Session, feed_secret: str) -> Organiser | None:
    """The active organiser whose calendar feed has this secret, if any."""
    return organiser_of_feed(session, feed_secret)

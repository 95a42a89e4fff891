"""Calendar feed secrets: one per organiser, in the address their calendar app subscribes to.

Like API tokens, a secret is `secrets.token_urlsafe(32)` shown once, and only its sha256 hex is
stored; unlike tokens it is looked up by that hash through a unique index (a feed URL is fetched by
calendar apps every few minutes, so the lookup must not scan every organiser).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.store.epoch import epoch_seconds
from worker.store.models import Broadcast, Organiser, Stream
from worker.store.organisers import TOKEN_BYTES, hash_token


def issue_feed(session: Session, organiser: Organiser) -> str:
    """Give the organiser a new feed secret (the previous feed URL stops working) and return it."""
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    organiser.feed_token_hash = hash_token(secret)
    session.flush()
    return secret


def organiser_of_feed(session: Session, secret: str) -> Organiser | None:
    """The active organiser whose feed secret this is, or None (unknown, or organiser revoked)."""
    if not secret:
        return None
    row = session.scalars(select(Organiser).where(Organiser.feed_token_hash == hash_token(secret))).first()
    if row is None or row.revoked_at is not None:
        return None
    return row


class SlotTimes(NamedTuple):
    """A slot as a week view places it: who holds it and its instants in seconds since the epoch (a
    week of a busy studio has thousands: no datetime or ORM object per row)."""

    id: int
    stream_id: str
    organiser_id: int | None
    title: str | None
    starts_s: float
    slot_starts_s: float
    ends_s: float


def slot_times(session: Session, start: datetime, end: datetime) -> list[SlotTimes]:
    """Every slot not cancelled that overlaps [start, end), lead included, by slot start."""
    query = (
        select(
            Broadcast.id,
            Broadcast.stream_id,
            Broadcast.organiser_id,
            Broadcast.title,
            epoch_seconds(Broadcast.starts_at).label("starts_s"),
            epoch_seconds(Broadcast.slot_starts_at).label("slot_starts_s"),
            epoch_seconds(Broadcast.ends_at).label("ends_s"),
        )
        .where(Broadcast.cancelled_at.is_(None), Broadcast.slot_starts_at < end, Broadcast.ends_at > start)
        .order_by(Broadcast.slot_starts_at, Broadcast.id)
    )
    # Core rows (the ORM's result layer costs as much again) are named tuples with these very fields:
    # no object per row is built.
    return cast(list[SlotTimes], session.connection().execute(query).all())


def feed_slots(session: Session, start: datetime, end: datetime) -> list[tuple[Broadcast, str | None]]:
    """Every slot not cancelled that overlaps [start, end), lead included, with its stream's name."""
    query = (
        select(Broadcast, Stream.name)
        .outerjoin(Stream, Stream.stream_id == Broadcast.stream_id)
        .where(Broadcast.cancelled_at.is_(None), Broadcast.slot_starts_at < end, Broadcast.ends_at > start)
        .order_by(Broadcast.slot_starts_at, Broadcast.id)
    )
    return [(row, name) for row, name in session.execute(query)]

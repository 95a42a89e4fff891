"""Calendar feed secrets: one per organiser, in the address their calendar app subscribes to.

Like API tokens, a secret is `secrets.token_urlsafe(32)` shown once, and only its sha256 hex is
stored; unlike tokens it is looked up by that hash through a unique index (a feed URL is fetched by
calendar apps every few minutes, so the lookup must not scan every organiser).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def feed_slots(session: Session, start: datetime, end: datetime) -> list[tuple[Broadcast, str | None]]:
    """Every slot not cancelled that overlaps [start, end), lead included, with its stream's name."""
    query = (
        select(Broadcast, Stream.name)
        .outerjoin(Stream, Stream.stream_id == Broadcast.stream_id)
        .where(Broadcast.cancelled_at.is_(None), Broadcast.slot_starts_at < end, Broadcast.ends_at > start)
        .order_by(Broadcast.slot_starts_at, Broadcast.id)
    )
    return [(row, name) for row, name in session.execute(query)]

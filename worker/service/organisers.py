"""Organisers: the people who book slots, each with an API token and a calendar feed (both secret, both
shown once: only their hashes are stored). A bad or unknown name is InvalidInput naming `organiser`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.service.calendar_feed import feed_url
from worker.service.errors import InvalidInput
from worker.store import organisers as store
from worker.store.db import transaction
from worker.store.feeds import issue_feed
from worker.store.models import Organiser


@dataclass(frozen=True)
class NewOrganiser:
    name: str
    token: str  # the API token: shown once, never stored
    feed_url: str | None  # the calendar feed's secret address, when one was issued


@contextmanager
def _named() -> Iterator[None]:
    """The store's OrganiserError (a bad, unknown, taken or revoked name) as the service's error."""
    try:
        yield
    except store.OrganiserError as exc:
        raise InvalidInput(str(exc), field="organiser") from None


def add_organiser(
    engine: Engine, name: str, *, now: datetime, public_url: str, feed: bool = True
) -> NewOrganiser:
    """A new organiser with a fresh token, and (unless `feed` is False) a calendar feed."""
    with _named(), transaction(engine) as session:
        row, token = store.create_organiser(session, name, now=now)
        secret = issue_feed(session, row) if feed else None
        return NewOrganiser(row.name, token, None if secret is None else feed_url(public_url, secret))


def new_feed(engine: Engine, name: str, *, public_url: str) -> str:
    """A new calendar feed address for an active organiser; the previous one stops working."""
    with _named(), transaction(engine) as session:
        return feed_url(public_url, issue_feed(session, store.require_organiser(session, name)))


def list_organisers(engine: Engine, *, include_revoked: bool) -> list[Organiser]:
    with transaction(engine, immediate=False) as session:
        return store.list_organisers(session, include_revoked=include_revoked)


def revoke_organiser(engine: Engine, name: str, *, now: datetime) -> Organiser:
    """Their token stops working at once; their bookings stay."""
    with _named(), transaction(engine) as session:
        return store.revoke_organiser(session, name, now=now)


def active_organiser_id(engine: Engine, name: str) -> int:
    """The id of the active organiser of this name (InvalidInput when none, or revoked)."""
    with _named(), transaction(engine, immediate=False) as session:
        return store.require_organiser(session, name).id


def organiser_id(engine: Engine, name: str) -> int:
    """The id of the organiser of this name, revoked or not (InvalidInput when none)."""
    with transaction(engine, immediate=False) as session:
        row = store.find_organiser(session, name)
    if row is None:
        raise InvalidInput(
            f"no organiser named {name.strip()!r} (see `onair organiser list`)", field="organiser"
        )
    return row.id


def organiser_ids(session: Session, names: set[str]) -> tuple[dict[str, int], dict[str, str]]:
    """For many names at once: (name -> id of the active organiser, name -> why it cannot book)."""
    found: dict[str, int] = {}
    refused: dict[str, str] = {}
    for name in sorted(names):
        try:
            found[name] = store.require_organiser(session, name).id
        except store.OrganiserError as exc:
            refused[name] = str(exc)
    return found, refused


def caller(session: Session, token: str) -> Organiser | None:
    """The active organiser this API token belongs to, if any."""
    return store.authenticate(session, token)

"""One organiser's calendar (iCalendar, RFC 5545, written with the `icalendar` library): their own
bookings in full, and every other slot on the streams as plain busy time, named only by its stream.

This is what a calendar app subscribes to. Unlike the ops export (`onair plan --ics`), it never
holds another organiser's name or titles, an ops broadcast's title, or another booking's id: a busy
event's UID is a digest that stays stable across refreshes without giving the row away.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.service.text import iso_z
from worker.store.db import transaction
from worker.store.feeds import feed_slots, issue_feed
from worker.store.models import Broadcast, Organiser

FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=180)
PRODID = "-//onair//organiser calendar//EN"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def feed_url(public_url: str, secret: str) -> str:
    """The address a calendar app subscribes to, on ONAIR_PUBLIC_URL (default: the local API)."""
    return f"{public_url.strip().rstrip('/') or DEFAULT_PUBLIC_URL}/v1/calendar/{secret}.ics"


def organiser_calendar(session: Session, organiser_id: int, organiser_name: str, *, now: datetime) -> bytes:
    """The feed's bytes: slots from FEED_PAST ago to FEED_AHEAD ahead (cancelled ones left out, so a
    calendar app drops them on its next refresh)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"onair: {organiser_name}")
    calendar.add("x-published-ttl", "PT15M")
    for row, stream_name in feed_slots(session, now - FEED_PAST, now + FEED_AHEAD):
        stream = stream_name or row.stream_id
        mine = row.organiser_id == organiser_id
        event = _own(row, stream) if mine else _busy(row, stream, organiser_id)
        event.add("dtstamp", now)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def _own(row: Broadcast, stream: str) -> Event:
    event = Event()
    event.add("uid", f"booking-{row.id}@onair")
    event.add("summary", row.title or f"Booking on {stream}")
    event.add("dtstart", row.starts_at)
    event.add("dtend", row.ends_at)
    event.add("location", stream)
    event.add(
        "description",
        f"Your booking #{row.id} on stream {stream} ({row.stream_id}). The stream is enabled at "
        f"{iso_z(row.slot_starts_at)}, {row.lead_seconds} s before the start.",
    )
    event.add("transp", "OPAQUE")
    return event


def _busy(row: Broadcast, stream: str, organiser_id: int) -> Event:
    event = Event()
    digest = hashlib.sha256(f"{organiser_id}:{row.id}".encode()).hexdigest()[:24]
    event.add("uid", f"busy-{digest}@onair")
    event.add("summary", f"Busy: {stream}")
    event.add("dtstart", row.slot_starts_at)
    event.add("dtend", row.ends_at)
    event.add("location", stream)
    event.add("transp", "OPAQUE")
    return event


def new_feed_address(engine: Engine, organiser_id: int, public_url: str) -> str:
    """A new calendar feed address for the organiser (only its hash is kept, so an address can be
    shown only when it is made): the previous address stops working."""
    with transaction(engine) as session:
        organiser = session.get(Organiser, organiser_id)
        if organiser is None:
            raise LookupError(f"no organiser with id {organiser_id}")
        return feed_url(public_url, issue_feed(session, organiser))

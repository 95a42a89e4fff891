"""The stream a new schedule names: onair's own `streams` table first, else one look-up at FastPix.

`onair broadcast add`, `onair book add`, `onair offhours add --stream`, `onair broadcast add --cron` and
`onair import` all check their stream here before writing, so an unknown or mistyped id is refused with
the same words (InvalidInput naming stream_id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.clock import Clock
from worker.config import MissingSetting, OnairSettings
from worker.fastpix import ApiError, FastPixError, InvalidRequest, validation
from worker.service import budget
from worker.service.errors import InvalidInput
from worker.service.replanning import CLI_WAIT_SECONDS, replan
from worker.service.sync import stream_name
from worker.store import views
from worker.store.changes import add_row
from worker.store.db import transaction
from worker.store.models import BroadcastSeries, OffHours, Stream
from worker.store.schedules import upsert_stream


@dataclass(frozen=True)
class FoundStream:
    """A stream FastPix confirmed exists, to record in `streams` with the schedule that needs it."""

    stream_id: str
    name: str | None
    status: str | None

    def save(self, session: Session, now: datetime) -> None:
        upsert_stream(session, self.stream_id, name=self.name, status=self.status, seen_at=now)


def record_stream(engine: Engine, found: FoundStream, now: datetime) -> None:
    """Record a stream FastPix confirmed, on its own (a change to the stream itself follows)."""
    with transaction(engine) as session:
        found.save(session, now)


Rule = TypeVar("Rule", OffHours, BroadcastSeries)


def save_with_stream(
    settings: OnairSettings,
    engine: Engine,
    row: Rule,
    found: FoundStream | None,
    *,
    now: datetime,
    clock: Clock | None = None,
) -> tuple[Rule, str | None]:
    """Write a new off-hours rule or series and the stream it needs in one transaction, re-plan, and
    read it back: (the row as the planner left it, why planning at once failed if it did)."""
    with transaction(engine) as session:
        if found is not None:
            found.save(session, now)
        row_id = add_row(session, row)
    failure = replan(settings, engine, clock=clock, wait=CLI_WAIT_SECONDS).failure
    with transaction(engine, immediate=False) as session:
        saved = views.find(session, type(row), row_id)
    assert saved is not None
    return saved, failure


def register_stream_if_needed(engine: Engine, stream_id: str) -> FoundStream | None:
    """None if onair knows the stream; else ask FastPix once. InvalidInput when it cannot be confirmed."""
    with transaction(engine, immediate=False) as session:
        if views.find(session, Stream, stream_id) is not None:
            return None
    prefix = f"unknown stream {stream_id!r}"
    try:
        validation.stream_id(stream_id)
    except InvalidRequest as exc:
        raise _unknown(f"{prefix}: not in onair's streams table, and {exc}") from None
    try:
        with budget.budgeted_client() as client:
            stream = client.get_stream(stream_id)
    except ApiError as exc:
        if exc.status == 404:
            raise _unknown(f"{prefix}: FastPix has no such stream") from None
        raise _unknown(f"{prefix}: {_NOT_ASKED} ({exc})") from None
    except (FastPixError, InvalidRequest, MissingSetting, ValidationError) as exc:
        raise _unknown(f"{prefix}: {_NOT_ASKED} ({exc})") from None
    return FoundStream(stream.stream_id, stream_name(stream), stream.status)


_NOT_ASKED = "not in onair's streams table and FastPix could not be asked"


def _unknown(message: str) -> InvalidInput:
    return InvalidInput(message, field="stream_id")

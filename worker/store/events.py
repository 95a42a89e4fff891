"""The history: action_events rows, one per state change or API call, with who or what caused it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.store.sqlutil import events_table


@dataclass(frozen=True)
class Event:
    action_id: int | None
    stream_id: str | None
    at: datetime
    actor: str
    event: str
    from_state: str | None = None
    to_state: str | None = None
    attempt: int | None = None
    http_method: str | None = None
    http_path: str | None = None
    http_status: int | None = None
    latency_ms: float | None = None
    detail: str | None = None


# Built once: the statement and its compiled form are reused by every write of the history.
_INSERT_EVENTS = insert(events_table)


def insert_events(session: Session, events: Iterable[Event]) -> None:
    """Write many events in one executemany, on the session's connection (Core, not the ORM's bulk
    machinery)."""
    # vars(), not dataclasses.asdict(): asdict deep-copies every field, which cost more than the insert.
    rows: list[dict[str, Any]] = [dict(vars(e)) for e in events]
    if rows:
        session.connection().execute(_INSERT_EVENTS, rows)


def record_event(
    session: Session,
    *,
    action_id: int | None,
    stream_id: str | None,
    actor: str,
    event: str,
    from_state: str | None = None,
    to_state: str | None = None,
    attempt: int | None = None,
    http_method: str | None = None,
    http_path: str | None = None,
    http_status: int | None = None,
    latency_ms: float | None = None,
    detail: str | None = None,
    now: datetime,
) -> None:
    insert_events(
        session,
        [
            Event(
                action_id=action_id,
                stream_id=stream_id,
                at=ensure_utc(now),
                actor=actor,
                event=event,
                from_state=from_state,
                to_state=to_state,
                attempt=attempt,
                http_method=http_method,
                http_path=http_path,
                http_status=http_status,
                latency_ms=latency_ms,
                detail=detail,
            )
        ],
    )

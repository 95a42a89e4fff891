"""What people changed by hand, for `onair history --stream`: pauses, moves, edits (newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from worker.store import control_log
from worker.store.db import transaction


@dataclass(frozen=True)
class ControlEvent:
    at: datetime
    actor: str
    event: str
    detail: str


def of_stream(engine: Engine, stream_id: str, *, limit: int = 20) -> list[ControlEvent]:
    with transaction(engine, immediate=False) as session:
        rows = control_log.control_events(session, stream_id, limit=limit)
        return [ControlEvent(r.at, r.actor, r.event, r.detail or "") for r in rows]

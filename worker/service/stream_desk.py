"""One stream as the ops pages show it, to pause or resume it: its name, the pause in force (if any),
its latest pauses, and its upcoming and running slots (each a broadcast row ops may cancel)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from worker.domain.pauses import Pause, holds
from worker.service.agenda import slot_kind
from worker.service.pauses import PauseRecord
from worker.service.refusal import NotFound
from worker.store import pauses, views
from worker.store.db import transaction

RECENT_PAUSES = 5
SLOTS_SHOWN = 20


@dataclass(frozen=True)
class Slot:
    id: int
    kind: str  # broadcast | booking | occurrence
    title: str | None
    starts_at: datetime  # the slot's start, lead included
    ends_at: datetime


@dataclass(frozen=True)
class StreamDesk:
    stream_id: str
    name: str
    pause: Pause | None  # the pause holding now
    recent: list[PauseRecord]  # newest first
    slots: list[Slot]  # upcoming and running, by start; at most SLOTS_SHOWN


def stream_desk(engine: Engine, stream_id: str, now: datetime) -> StreamDesk:
    """NotFound when onair does not know the stream."""
    with transaction(engine, immediate=False) as session:
        names = views.stream_names(session)
        if stream_id not in names:
            raise NotFound("stream_id", f"onair knows no stream {stream_id!r}")
        row = pauses.open_pause(session, stream_id)
        pause = None if row is None else pauses.as_pause(row)
        recent = [PauseRecord.of(r) for r in pauses.history(session, stream_id, limit=RECENT_PAUSES)]
        rows = views.slots(session, now, stream_id)[:SLOTS_SHOWN]
        slots = [Slot(r.id, slot_kind(r), r.title, r.slot_starts_at, r.ends_at) for r in rows]
    return StreamDesk(
        stream_id,
        names[stream_id] or stream_id,
        pause if pause is not None and holds(pause, now) else None,
        recent,
        slots,
    )

"""Ending a pause: the actions it skipped that are still useful run after all (domain.pauses), and
pauses whose `until` passed are ended by the planner tick, as actor `onair`."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.domain.pauses import describe, revives
from worker.store import pauses, rerun
from worker.store.db import transaction
from worker.store.events import record_event
from worker.store.models import StreamPause

log = logging.getLogger("onair.pauses")
UNTIL_REACHED = "onair"


def end_and_revive(session: Session, row: StreamPause, *, by: str, at: datetime, now: datetime) -> list[int]:
    """End the pause at `at` and bring back the actions it skipped that are still useful at `now`; the
    ids brought back. Recorded in the stream's history and in each action's."""
    pauses.end_pause(session, row, by=by, at=at)
    revived = []
    for action in pauses.skipped_while_paused(session, row.stream_id, row.paused_at):
        if not revives(action.kind, action.deadline_at, now):
            continue
        if rerun.rerun(
            session,
            action,
            deadline_at=action.deadline_at,
            now=now,
            actor=by,
            event="resumed",
            detail=f"the stream was resumed: the {action.kind} skipped while paused runs after all, "
            f"by its deadline {action.deadline_at:%Y-%m-%d %H:%M:%S} UTC",
        ):
            revived.append(action.id)
    why = "its until passed" if by == UNTIL_REACHED else f"resumed by {by}"
    brought = (
        f"; {len(revived)} skipped action(s) run after all: #{', #'.join(map(str, revived))}"
        if revived
        else ""
    )
    record_event(
        session,
        action_id=None,
        stream_id=row.stream_id,
        actor=by,
        event="stream_resumed",
        detail=f"pause ended ({why}); it was {describe(pauses.as_pause(row))}{brought}",
        now=now,
    )
    return revived


def end_lapsed(engine: Engine, now: datetime) -> int:
    """End every pause whose `until` has passed (the planner tick calls this); how many. Only reads,
    unless one has lapsed: a tick takes no write lock for this on SQLite."""
    with transaction(engine, immediate=False) as session:
        if not pauses.lapsed(session, now):
            return 0
    with transaction(engine) as session:
        rows = pauses.lapsed(session, now)
        for row in rows:
            assert row.until is not None
            revived = end_and_revive(session, row, by=UNTIL_REACHED, at=row.until, now=now)
            log.info(
                "stream %s: pause ended at its until; %d action(s) run after all", row.stream_id, len(revived)
            )
    return len(rows)

"""Turns at a fleet-wide duty: work every worker process offers to do on its own beat, but that one of
them a period is enough for (the signal watch reads every broadcast on air; N processes doing it each
round did the same work N times). One scheduler_state row per duty (`turn:<duty>`); a compare-and-set
on its updated_at gives the turn to the first process that finds the last turn at least a period old.
If the process that took a turn dies during it, the next turn comes a period later, as it would have."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.dialects import postgresql, sqlite

from worker.clock import ensure_utc
from worker.store.db import transaction
from worker.store.models import SchedulerState

KEY_PREFIX = "turn:"


def take_turn(engine: Engine, duty: str, now: datetime, every: timedelta) -> bool:
    """True for the one caller that finds `duty`'s last turn at least `every` old (it has the turn
    now); False for the others until `every` has passed again."""
    now = ensure_utc(now)
    key = f"{KEY_PREFIX}{duty}"[:64]
    with transaction(engine) as session:
        taken = session.execute(
            update(SchedulerState)
            .where(SchedulerState.key == key, SchedulerState.updated_at <= now - every)
            .values(updated_at=now)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return True
        # The first turn ever: the row does not exist yet (or another process has just made it).
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        first = session.execute(
            insert(SchedulerState)
            .values(key=key, value=None, updated_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(SchedulerState.key)
        )
        return first.first() is not None

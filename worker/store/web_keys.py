"""The key that signs the web pages' session cookies: random, made once, kept in scheduler_state so
that every `onair api` process (and a restarted one) signs and reads the same cookies."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from worker.store.db import transaction
from worker.store.models import SchedulerState

SESSION_KEY = "web.session_key"


def session_key(engine: Engine, now: datetime) -> str:
    """The stored key; the first caller's random one when there is none yet (a race keeps one)."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with transaction(engine) as session:
        session.execute(
            insert(SchedulerState)
            .values(key=SESSION_KEY, value=secrets.token_hex(32), updated_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        value = session.scalar(select(SchedulerState.value).where(SchedulerState.key == SESSION_KEY))
    assert value, "the session key row holds a key"
    return value

"""Alert records in scheduler_state, one row per alert under the key `alert:<alert key>`.

The primary key is the deduplication: the first process to insert the row sends the alert, and a
second worker noticing the same missed action finds the row and stays quiet. The row's value tracks
delivery (pending, sent, failed, logged), so an alert whose sender died is found and sent again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from worker.clock import ensure_utc
from worker.store.db import transaction
from worker.store.models import SchedulerState

PREFIX = "alert:"
MAX_KEY = 64 - len(PREFIX)


@dataclass(frozen=True)
class Record:
    key: str
    status: str
    attempts: int
    body: dict[str, Any]
    updated_at: datetime


def row_key(alert_key: str) -> str:
    if len(alert_key) > MAX_KEY:
        raise ValueError(f"alert key longer than {MAX_KEY} characters: {alert_key!r}")
    return PREFIX + alert_key


def insert_once(engine: Engine, alert_key: str, body: dict[str, Any], status: str, now: datetime) -> bool:
    """Record the alert unless it already is. True when this call recorded it (and must send it)."""
    value = json.dumps({"status": status, "attempts": 0, "body": body})
    with transaction(engine) as session:
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(SchedulerState).values(key=row_key(alert_key), value=value, updated_at=ensure_utc(now))
        # RETURNING, not rowcount: the ORM-enabled insert does not report skipped conflicts in rowcount.
        inserted = stmt.on_conflict_do_nothing(index_elements=["key"]).returning(SchedulerState.key)
        return session.execute(inserted).first() is not None


def set_status(
    engine: Engine, alert_key: str, status: str, attempts: int, body: dict[str, Any], now: datetime
) -> None:
    value = json.dumps({"status": status, "attempts": attempts, "body": body})
    with transaction(engine) as session:
        session.execute(
            update(SchedulerState)
            .where(SchedulerState.key == row_key(alert_key))
            .values(value=value, updated_at=ensure_utc(now))
        )


def already_recorded(engine: Engine, alert_keys: Sequence[str]) -> set[str]:
    """Which of these alerts are recorded already: one read, instead of an insert tried per alert."""
    if not alert_keys:
        return set()
    with transaction(engine, immediate=False) as session:
        found = session.scalars(
            select(SchedulerState.key).where(SchedulerState.key.in_([row_key(k) for k in alert_keys]))
        )
        return {key.removeprefix(PREFIX) for key in found}


def read(engine: Engine, alert_key: str) -> Record | None:
    with transaction(engine, immediate=False) as session:
        row = session.execute(
            select(SchedulerState.value, SchedulerState.updated_at).where(
                SchedulerState.key == row_key(alert_key)
            )
        ).first()
    return None if row is None else _record(alert_key, row.value, row.updated_at)


def recorded(engine: Engine) -> list[Record]:
    """Every alert still recorded, oldest first by the instant in its body (the demo prints them)."""
    with transaction(engine, immediate=False) as session:
        rows = session.execute(
            select(SchedulerState.key, SchedulerState.value, SchedulerState.updated_at).where(
                SchedulerState.key.startswith(PREFIX)
            )
        ).all()
    found = [_record(row.key[len(PREFIX) :], row.value, row.updated_at) for row in rows]
    return sorted(found, key=lambda r: (str(r.body.get("at", "")), r.key))


def take_abandoned(engine: Engine, older_than: timedelta, now: datetime, limit: int = 20) -> list[Record]:
    """Pending alerts nobody touched for `older_than` (their sender died): each is taken by exactly one
    caller, by a compare-and-set on updated_at."""
    cutoff = ensure_utc(now) - older_than
    taken: list[Record] = []
    with transaction(engine) as session:
        rows = session.execute(
            select(SchedulerState.key, SchedulerState.value, SchedulerState.updated_at)
            .where(SchedulerState.key.startswith(PREFIX), SchedulerState.updated_at < cutoff)
            .limit(200)
        ).all()
        for row in rows:
            record = _record(row.key[len(PREFIX) :], row.value, row.updated_at)
            if record.status != "pending" or len(taken) >= limit:
                continue
            result = session.execute(
                update(SchedulerState)
                .where(SchedulerState.key == row.key, SchedulerState.updated_at == row.updated_at)
                .values(updated_at=ensure_utc(now))
            )
            if result.rowcount:  # type: ignore[attr-defined]
                taken.append(record)
    return taken


def prune(engine: Engine, older_than: timedelta, now: datetime) -> int:
    """Forget delivered alerts after a while, so the table stays small."""
    with transaction(engine) as session:
        result = session.execute(
            delete(SchedulerState).where(
                SchedulerState.key.startswith(PREFIX),
                SchedulerState.updated_at < ensure_utc(now) - older_than,
                SchedulerState.value.not_like('%"status": "pending"%'),
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def forget_settled(engine: Engine, alert_key: str) -> bool:
    """Forget one alert already delivered (or logged), so the same alert can be raised again."""
    with transaction(engine) as session:
        result = session.execute(
            delete(SchedulerState).where(
                SchedulerState.key == row_key(alert_key),
                SchedulerState.value.not_like('%"status": "pending"%'),
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _record(key: str, value: str | None, updated_at: datetime) -> Record:
    data = json.loads(value or "{}")
    return Record(
        key, str(data.get("status", "")), int(data.get("attempts", 0)), dict(data.get("body", {})), updated_at
    )

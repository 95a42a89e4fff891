"""The change counters kept by triggers (migrations 0014, 0015) never make two writers deadlock: on
PostgreSQL, the counter row is locked only as a transaction commits. Before, the first new streams row
of a transaction locked it, and two transactions adding overlapping new streams in the same (sorted)
order aborted one of them with "deadlock detected" (the stream sync against an executor's record)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, text

from tests.integration.store_support import migrated

INSERT = text(
    "INSERT INTO streams (stream_id, status, last_seen_at) VALUES (:s, 'disabled', :t)"
    " ON CONFLICT (stream_id) DO NOTHING"
)
A, B, C = ("a" * 32, "b" * 32, "c" * 32)


def _counter(engine: Engine) -> int:
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT value FROM scheduler_state WHERE key = 'schedule_changes'")
        ).scalar()
    return int(value or 0)


def _add(conn: Connection, *streams: str) -> None:
    for stream in streams:
        conn.execute(INSERT, {"s": stream, "t": datetime.now(UTC)})


def _waiting(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        kind = conn.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"), {"p": pid})
        return kind.scalar() == "Lock"


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    yield from migrated(postgres_url)


def test_two_writers_adding_overlapping_new_streams_both_commit_and_the_counter_moves(engine: Engine) -> None:
    before = _counter(engine)
    errors: list[BaseException] = []
    pid: list[int] = []
    with engine.connect() as first:
        _add(first, A)  # the first writer holds a new stream, uncommitted

        def second() -> None:
            try:
                with engine.begin() as conn:
                    pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                    _add(conn, B, C)
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        other = threading.Thread(target=second)
        other.start()
        give_up = time.monotonic() + 20
        while other.is_alive() and not (pid and _waiting(engine, pid[0])) and time.monotonic() < give_up:
            time.sleep(0.05)
        _add(first, B)  # the stream the second writer added: wait for it, never deadlock
        first.commit()
        other.join(timeout=20)

    assert not errors, f"the second writer failed: {errors}"
    with engine.connect() as conn:
        streams = set(conn.execute(text("SELECT stream_id FROM streams")).scalars())
    assert {A, B, C} <= streams
    assert _counter(engine) > before, "the planner still sees that streams changed"

"""Dispatcher ticks do not pile up: beat sends a tick every second whatever the ticks' pace, and a tick
that finds another tick of its process still waiting for the database returns at once instead of
queueing behind it (each queued tick held a Celery thread, took the write lock in turn from the
take-overs and lease renewals, and claimed with a stale count of the claims in flight: a 10,000-action
burst under FASTPIX_MAX_RPS on SQLite lost its leases over and over and never drained). Real database
(SQLite and PostgreSQL), the system clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.integration.store_support import BACKENDS, migrated_engine, planned
from worker.config import FastPixSettings, OnairSettings
from worker.domain.types import ActionKind
from worker.service import dispatcher
from worker.service.runtime import Runtime
from worker.store import ledger
from worker.store.db import make_engine, transaction

# Generous for a loaded machine: a skipped tick returns in milliseconds, a queued one waits for the lock.
RETURNS_WITHIN = 10.0


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


@pytest.fixture
def rt(engine: Engine, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(
        settings=OnairSettings(database_url=str(engine.url), alert_webhook_url="", data_dir=str(tmp_path)),
        fastpix=FastPixSettings(api_url="http://127.0.0.1:9/v1", access_token_id="x", secret_key="x"),  # type: ignore[arg-type]
    )
    runtime.engine = engine  # type: ignore[misc]  # the caller's engine, disposed by it
    yield runtime
    runtime.action_pool.shutdown()


@contextmanager
def database_held(engine: Engine) -> Iterator[None]:
    """Another connection holds what a tick's first write needs: SQLite's write lock; on PostgreSQL
    the `actions` table, which the tick's lease reaper updates."""
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        # On SQLite the transaction itself takes the write lock (BEGIN IMMEDIATE).
        with transaction(other) as session:
            if engine.dialect.name != "sqlite":
                session.execute(sa.text("LOCK TABLE actions IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        other.dispose()


def waiting_on_lock(engine: Engine) -> bool:
    """PostgreSQL: some session waits for a lock. SQLite cannot tell: a second's grace is given."""
    if engine.dialect.name == "sqlite":
        time.sleep(1.0)
        return True
    with engine.connect() as conn:
        sql = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'actions'::regclass"
        return bool(conn.execute(sa.text(sql)).scalar())


def test_a_tick_that_finds_another_waiting_returns_at_once_and_the_action_is_claimed_once(
    engine: Engine, rt: Runtime
) -> None:
    now = datetime.now(UTC)
    with transaction(engine) as session:
        ledger.apply_plan(
            session,
            [planned("st-1", ActionKind.ENABLE, now)],
            scope_sources=[],
            window_start=now - timedelta(days=1),
            now=now,
        )
    sent: list[ledger.Claim] = []
    reports: dict[str, dispatcher.DispatchReport] = {}

    def tick(name: str) -> None:
        reports[name] = dispatcher.dispatch_tick(rt, sent.extend)

    first = threading.Thread(target=tick, args=("first",))
    second = threading.Thread(target=tick, args=("second",))
    with database_held(engine):
        first.start()
        give_up = time.monotonic() + 30
        while not waiting_on_lock(engine):
            assert time.monotonic() < give_up, "the first tick never reached the database"
            time.sleep(0.05)
        second.start()
        second.join(timeout=RETURNS_WITHIN)
        returned_while_held = not second.is_alive()
    first.join(timeout=60)
    second.join(timeout=60)

    assert returned_while_held, "the second tick queued behind the first instead of returning"
    assert reports["second"].skipped and reports["second"].claimed == 0
    assert reports["first"].claimed == 1 and not reports["first"].skipped
    assert [claim.stream_id for claim in sent] == ["st-1"]
    # The next tick, with none running, works as usual (and finds nothing more to claim).
    assert not dispatcher.dispatch_tick(rt, sent.extend).skipped
    assert len(sent) == 1

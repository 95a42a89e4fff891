"""Shared by the store tests: one migrated database per test, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.integration.simulator_fixture import Simulator
from worker.clock import Clock
from worker.config import FastPixSettings, OnairSettings
from worker.domain.types import KIND_SEQUENCE, ActionKind, PlannedAction, Source
from worker.service.runtime import Runtime
from worker.store.db import make_engine
from worker.store.migrate import upgrade

BACKENDS = ["sqlite", "postgresql"]
T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/onair.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


def migrated_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated(backend_url(request, tmp_path))


def migrated(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def planned(
    stream: str,
    kind: ActionKind,
    due: datetime,
    *,
    source_id: int = 1,
    source: Source = Source.BROADCAST,
    deadline: timedelta = timedelta(hours=1),
    key: str | None = None,
    reason: str = "test",
    payload: dict[str, object] | None = None,
) -> PlannedAction:
    return PlannedAction(
        key=key or f"{source.value}:{source_id}:{stream}:{kind.value}:{due.isoformat()}",
        stream_id=stream,
        kind=kind,
        source=source,
        source_id=source_id,
        due_at=due,
        deadline_at=due + deadline,
        reason=reason,
        payload=payload,
        sequence=KIND_SEQUENCE[kind],
    )


def claim_until_done(url: str, owner: str, now: datetime) -> int:
    """A claimer as the dispatcher and executor together would be: claim, finish, repeat until the
    ledger has nothing pending or claimed. Runs in threads and in spawned processes."""
    import time

    from sqlalchemy import func, select

    from worker.domain.attempts import Attempt
    from worker.domain.types import ActionState
    from worker.store import ledger
    from worker.store.db import transaction
    from worker.store.models import Action

    engine = make_engine(url)
    done = 0
    try:
        while True:
            claims = ledger.claim_due(
                engine, now=now, ahead=timedelta(0), lease=timedelta(hours=1), owner=owner, limit=7
            )
            for claim in claims:
                attempt = Attempt.done(claim.action_id, ActionState.SUCCEEDED, f"done by {owner}")
                with transaction(engine) as session:
                    finished = ledger.record_attempts(session, claim.lease_token, [attempt], now=now)
                if not finished:
                    raise AssertionError(f"{owner} lost the lease of action #{claim.action_id}")
                done += 1
            if not claims:
                with transaction(engine, immediate=False) as session:
                    left = session.scalar(
                        select(func.count())
                        .select_from(Action)
                        .where(Action.state.in_(["pending", "claimed"]))
                    )
                if left == 0:
                    return done
                time.sleep(0.002)
    finally:
        engine.dispose()


def simulator_runtime(
    engine: Engine, simulator: Simulator, clock: Clock | None = None, **settings: Any
) -> Iterator[Runtime]:
    """A runtime on this engine and the simulator, for executor tests; closed afterwards."""
    simulator.reset()
    runtime = Runtime(
        settings=OnairSettings(database_url=str(engine.url), alert_webhook_url="", **settings),
        fastpix=FastPixSettings(
            api_url=simulator.base_url,
            access_token_id=simulator.access_token_id,  # type: ignore[arg-type]
            secret_key=simulator.secret_key,  # type: ignore[arg-type]
        ),
        engine=engine,  # the caller's engine, disposed by it
        clock=clock,
    )
    yield runtime
    runtime.client.close()
    runtime.action_pool.shutdown()

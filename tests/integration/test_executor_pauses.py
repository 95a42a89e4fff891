"""The executor's check before acting, on SQLite and PostgreSQL with the simulator over HTTP: an action
of a paused stream is skipped with the pause's note and sends nothing (not even the read), while the
same batch acts on a stream that is not paused; a pause whose until has passed no longer holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.integration.simulator_fixture import Simulator
from tests.integration.store_support import BACKENDS, migrated_engine, planned, simulator_runtime
from worker.domain.types import ActionKind, ActionState
from worker.fastpix.client import FastPixClient
from worker.service import executor
from worker.service.runtime import Runtime
from worker.store import ledger, pauses
from worker.store.db import transaction

LEASE = timedelta(seconds=60)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


@pytest.fixture
def rt(engine: Engine, simulator: Simulator) -> Iterator[Runtime]:
    yield from simulator_runtime(engine, simulator)


def test_a_paused_stream_gets_no_call_and_its_action_is_skipped_with_the_note(
    engine: Engine, rt: Runtime, simulator: Simulator
) -> None:
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        held, free, lapsed = (api.create_stream().stream_id for _ in range(3))
        for stream in (held, free, lapsed):
            api.disable_stream(stream)
    now = datetime.now(UTC)
    with transaction(engine) as session:
        pauses.add_pause(session, held, by="ada", note="encoder swap", until=None, now=now)
        pauses.add_pause(session, lapsed, by="ada", note="over", until=now, now=now - timedelta(minutes=1))
        ledger.apply_plan(
            session,
            [planned(s, ActionKind.ENABLE, now, source_id=i + 1) for i, s in enumerate((held, free, lapsed))],
            scope_sources=[],
            window_start=now - timedelta(days=1),
            now=now,
        )
    claims = ledger.claim_due(
        engine, now=now + timedelta(seconds=1), ahead=timedelta(0), lease=LEASE, owner="test", limit=10
    )
    since = simulator.last_seq()
    outcomes = executor.execute_batch(rt, [(c.action_id, c.lease_token) for c in claims])
    by_stream = {c.stream_id: o for c, o in zip(claims, outcomes, strict=True)}
    assert (by_stream[held].state, by_stream[held].detail) == (ActionState.SKIPPED, "paused (encoder swap)")
    assert by_stream[free].state is ActionState.SUCCEEDED
    assert by_stream[lapsed].state is ActionState.SUCCEEDED
    assert simulator.calls(since, stream_id=held) == []
    assert len(simulator.calls(since, stream_id=free, endpoint="enable")) == 1

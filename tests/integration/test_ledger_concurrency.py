"""Many claimers at once, threads and processes, on PostgreSQL and SQLite: every row is claimed exactly
once, and a stream never has two claimed rows at the same time (its actions run one after another)."""

from __future__ import annotations

import multiprocessing
from collections import defaultdict
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.store_support import BACKENDS, T0, backend_url, claim_until_done, migrated, planned
from worker.domain.types import ActionKind
from worker.store import ledger
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent

STREAMS = 100
PER_STREAM = 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_claimers_claim_every_row_once_and_keep_each_stream_in_order(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    class _Param:
        param = backend

        def getfixturevalue(self, name: str) -> object:
            return request.getfixturevalue(name)

    url = backend_url(_Param(), tmp_path)  # type: ignore[arg-type]
    engine = next(gen := migrated(url))
    plan = [
        planned(f"stream-{s:03d}", ActionKind.ENABLE, T0 + timedelta(seconds=n * STREAMS + s), key=f"{s}:{n}")
        for s in range(STREAMS)
        for n in range(PER_STREAM)
    ]
    with transaction(engine) as session:
        ledger.apply_plan(session, plan, scope_sources=[], window_start=T0, now=T0)
    now = T0 + timedelta(hours=1)

    with (
        ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as processes,
        ThreadPoolExecutor(3) as threads,
    ):
        futures: list[Future[int]] = [
            processes.submit(claim_until_done, url, f"proc-{i}", now) for i in range(2)
        ]
        futures += [threads.submit(claim_until_done, url, f"thread-{i}", now) for i in range(3)]
        done = [f.result(timeout=120) for f in futures]

    assert sum(done) == STREAMS * PER_STREAM
    with transaction(engine, immediate=False) as session:
        states = session.execute(select(Action.state, Action.attempts)).all()
        events = session.execute(
            select(ActionEvent.stream_id, ActionEvent.action_id, ActionEvent.event, ActionEvent.actor)
            .where(ActionEvent.event.in_(["claimed", "succeeded"]))
            .order_by(ActionEvent.id)
        ).all()
        order = dict(session.execute(select(Action.id, Action.idempotency_key)).all())
    assert {tuple(s) for s in states} == {("succeeded", 1)}

    timelines: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for stream_id, action_id, event, _actor in events:
        timelines[stream_id].append((event, order[action_id]))
    for stream_id, timeline in timelines.items():
        s = int(stream_id.split("-")[1])
        expected = [(e, f"{s}:{n}") for n in range(PER_STREAM) for e in ("claimed", "succeeded")]
        assert timeline == expected, stream_id
    assert len({actor for *_, actor in events}) > 1  # the work really was shared
    engine.dispose()
    gen.close()

"""A broadcast's metadata is merged into the stream's and put back at its end: the real planner, ledger
and executor, the simulator over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from tests.integration import test_executor_batches as batches
from tests.integration.simulator_fixture import Simulator
from worker.domain.planner import plan
from worker.domain.specs import BroadcastSpec
from worker.fastpix.client import FastPixClient
from worker.service import executor
from worker.service.runtime import Runtime
from worker.store import ledger, schedules
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent, Stream

# The executor's fixtures: a migrated engine per backend, and a runtime on the simulator.
engine, rt = batches.engine, batches.rt
NAME = {"name": "Main stage"}


def _stream(simulator: Simulator, metadata: dict[str, str], engine: Engine) -> str:
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        stream_id = api.create_stream(metadata=metadata).stream_id
    with transaction(engine) as session:
        schedules.upsert_streams(
            session, [(stream_id, metadata.get("name"), "idle")], seen_at=datetime.now(UTC)
        )
    return stream_id


def _run_broadcast(
    engine: Engine, rt: Runtime, stream_id: str, metadata: str, seconds: float = 2.0, *, disable: bool = False
) -> None:
    """Plan a broadcast starting now on the stream (`disable`: its between-slots policy is disable),
    then dispatch and execute its actions as they fall due."""
    now = datetime.now(UTC)
    end = now + timedelta(seconds=seconds)
    spec = BroadcastSpec(1, stream_id, now, end, timedelta(0), "Show", metadata=metadata)
    policy = [stream_id] if disable else []
    result = plan([spec], [], {stream_id}, now, timedelta(hours=1), disable_between_slots=policy)
    assert result.invalid == {}
    with transaction(engine) as session:
        ledger.apply_plan(
            session, result.actions, scope_sources=[], window_start=result.window_start, now=now
        )
    deadline = time.monotonic() + seconds + 30
    while _unfinished(engine):
        assert time.monotonic() < deadline, "the broadcast's actions did not finish"
        claims = ledger.claim_due(
            engine, now=datetime.now(UTC), ahead=timedelta(0), lease=batches.LEASE, owner="test", limit=10
        )
        if claims:
            executor.execute_batch(rt, [(c.action_id, c.lease_token) for c in claims])
        else:
            time.sleep(0.05)


def _unfinished(engine: Engine) -> int:
    with transaction(engine, immediate=False) as session:
        return len(session.execute(select(Action.id).where(Action.state.in_(["pending", "claimed"]))).all())


def _outcomes(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with transaction(engine, immediate=False) as session:
        return {
            kind: (state, outcome)
            for kind, state, outcome in session.execute(select(Action.kind, Action.state, Action.outcome))
        }


def _history(engine: Engine, kind: str) -> list[str]:
    with transaction(engine, immediate=False) as session:
        rows = session.execute(
            select(ActionEvent.detail)
            .join(Action, Action.id == ActionEvent.action_id)
            .where(Action.kind == kind, ActionEvent.event == "succeeded")
        ).scalars()
        return [detail or "" for detail in rows]


def _name_in_table(engine: Engine, stream_id: str) -> str | None:
    with transaction(engine, immediate=False) as session:
        return session.execute(select(Stream.name).where(Stream.stream_id == stream_id)).scalar_one()


def test_the_streams_name_survives_a_broadcast_and_its_keys_are_gone_afterwards(
    engine: Engine,
    rt: Runtime,
    simulator: Simulator,
) -> None:
    stream_id = _stream(simulator, NAME, engine)
    since = simulator.last_seq()

    _run_broadcast(engine, rt, stream_id, '{"show": "x"}')

    assert simulator.stream(stream_id)["metadata"] == NAME
    patches = simulator.calls(since, stream_id=stream_id, endpoint="update")
    assert [c.http_status for c in patches] == [200, 200], "one PATCH to merge, one to put back"
    outcomes = _outcomes(engine)
    assert outcomes["update"][0] == outcomes["restore"][0] == "succeeded"
    # History shows the whole metadata before and after, at the merge and at the restore.
    merged = '{"name": "Main stage", "show": "x"}'
    assert _history(engine, "update") == [
        f'applied metadata and settings; metadata {{"name": "Main stage"}} -> {merged}'
    ]
    assert _history(engine, "restore") == [
        f'put back the stream\'s metadata; metadata {merged} -> {{"name": "Main stage"}}'
    ]
    assert _name_in_table(engine, stream_id) == "Main stage"


def test_with_the_disable_policy_the_stream_is_disabled_after_its_metadata_is_put_back(
    engine: Engine,
    rt: Runtime,
    simulator: Simulator,
) -> None:
    stream_id = _stream(simulator, NAME, engine)
    since = simulator.last_seq()

    _run_broadcast(engine, rt, stream_id, '{"show": "x"}', disable=True)

    # FastPix refuses PATCH on a disabled stream: the restore had to come first, then the disable.
    acts = [c.endpoint for c in simulator.calls(since, stream_id=stream_id) if c.method != "GET"]
    assert acts == ["update", "update", "disable"]
    assert simulator.stream(stream_id)["metadata"] == NAME
    assert simulator.stream(stream_id)["status"] == "disabled"
    outcomes = _outcomes(engine)
    assert outcomes["restore"][0] == outcomes["disable"][0] == "succeeded"


def test_a_merge_whose_answer_was_lost_still_puts_back_what_was_there_before(
    engine: Engine,
    rt: Runtime,
    simulator: Simulator,
) -> None:
    stream_id = _stream(simulator, {**NAME, "show": "rerun"}, engine)
    # The PATCH takes effect, then the connection drops: the retry reads the merged metadata, yet the
    # before-values were stored ahead of the first call, so the restore brings back "rerun".
    simulator.inject_fault("update", "drop", count=1, apply_effect=True, stream_id=stream_id)

    _run_broadcast(engine, rt, stream_id, '{"show": "live", "host": "Ana"}')

    assert simulator.stream(stream_id)["metadata"] == {**NAME, "show": "rerun"}
    assert _outcomes(engine)["restore"][0] == "succeeded"


def test_a_merge_over_ten_keys_fails_with_its_cause_and_changes_nothing(
    engine: Engine,
    rt: Runtime,
    simulator: Simulator,
) -> None:
    full = {**NAME, **{f"k{i}": "v" for i in range(9)}}
    stream_id = _stream(simulator, full, engine)
    since = simulator.last_seq()

    _run_broadcast(engine, rt, stream_id, '{"show": "x"}')

    assert simulator.stream(stream_id)["metadata"] == full
    assert simulator.calls(since, stream_id=stream_id, endpoint="update") == []
    outcomes = _outcomes(engine)
    state, outcome = outcomes["update"]
    assert state == "failed" and outcome is not None
    assert "11 keys; FastPix allows at most 10" in outcome and "the broadcast adds show" in outcome
    assert outcomes["restore"] == (
        "skipped",
        "the broadcast's metadata was never applied: nothing to put back",
    )

"""apply_plan and mark_missed: the ledger follows the schedules, and its history says why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from tests.integration.store_support import BACKENDS, T0, migrated_engine, planned
from worker.domain.types import ActionKind, ActionState, PlannedAction, Source
from worker.store import ledger
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent

HOUR = timedelta(hours=1)
WINDOW = T0 - HOUR


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


def _broadcast(engine: Engine, stream: str = "s1") -> int:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO broadcasts (stream_id, starts_at, ends_at) VALUES (:s, :a, :b)"),
            {"s": stream, "a": "2026-11-27 18:00:00", "b": "2026-11-27 19:00:00"},
        )
        return int(conn.execute(text("SELECT max(id) FROM broadcasts")).scalar_one())


def _apply(engine: Engine, plan: list[PlannedAction], scope: list[tuple[Source, int]]) -> ledger.PlanStats:
    with transaction(engine) as session:
        return ledger.apply_plan(session, plan, scope_sources=scope, window_start=WINDOW, now=T0)


def _rows(engine: Engine) -> dict[str, Action]:
    with transaction(engine, immediate=False) as session:
        return {a.idempotency_key: a for a in session.scalars(select(Action))}


def _events(engine: Engine, action_id: int) -> list[tuple[str, str | None, str | None]]:
    with transaction(engine, immediate=False) as session:
        rows = session.execute(
            select(ActionEvent.event, ActionEvent.from_state, ActionEvent.to_state)
            .where(ActionEvent.action_id == action_id)
            .order_by(ActionEvent.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_plan_inserts_once_and_reapplying_changes_nothing(engine: Engine) -> None:
    b = _broadcast(engine)
    plan = [
        planned("s1", ActionKind.ENABLE, T0, source_id=b),
        planned("s1", ActionKind.FINISH, T0 + HOUR, source_id=b),
    ]

    first = _apply(engine, plan, [(Source.BROADCAST, b)])
    again = _apply(engine, plan, [(Source.BROADCAST, b)])

    assert first == ledger.PlanStats(inserted=2, updated=0, cancelled=0)
    assert again == ledger.PlanStats(inserted=0, updated=0, cancelled=0)
    rows = _rows(engine)
    enable = rows[plan[0].key]
    assert (enable.state, enable.attempts, enable.next_attempt_at, enable.due_at) == ("pending", 0, T0, T0)
    assert enable.deadline_at == T0 + HOUR
    assert _events(engine, enable.id) == [("planned", None, "pending")]


def test_changed_schedule_replans_pending_rows_but_never_claimed_ones(engine: Engine) -> None:
    b = _broadcast(engine)
    enable = planned("s1", ActionKind.ENABLE, T0, source_id=b, key="b:enable")
    finish = planned("s1", ActionKind.FINISH, T0 + HOUR, source_id=b, key="b:finish")
    _apply(engine, [enable, finish], [(Source.BROADCAST, b)])
    [claim] = ledger.claim_due(engine, now=T0, ahead=timedelta(0), lease=HOUR, owner="w", limit=10)
    assert claim.action_id == _rows(engine)["b:enable"].id

    moved = [
        planned("s1", ActionKind.ENABLE, T0 + HOUR, source_id=b, key="b:enable", reason="moved"),
        planned("s1", ActionKind.FINISH, T0 + 2 * HOUR, source_id=b, key="b:finish", payload={"x": 1}),
    ]
    stats = _apply(engine, moved, [(Source.BROADCAST, b)])

    assert stats == ledger.PlanStats(inserted=0, updated=1, cancelled=0)
    rows = _rows(engine)
    assert (rows["b:enable"].state, rows["b:enable"].due_at) == ("claimed", T0)
    assert rows["b:finish"].due_at == rows["b:finish"].next_attempt_at == T0 + 2 * HOUR
    assert rows["b:finish"].deadline_at == T0 + 3 * HOUR
    assert rows["b:finish"].payload == '{"x":1}'
    assert _events(engine, rows["b:finish"].id)[-1] == ("replanned", "pending", "pending")


def test_unplanned_rows_in_the_window_are_cancelled_and_their_key_can_come_back(engine: Engine) -> None:
    b = _broadcast(engine)
    old = planned("s1", ActionKind.ENABLE, T0, source_id=b)
    _apply(engine, [old], [(Source.BROADCAST, b)])
    old_id = _rows(engine)[old.key].id

    moved = planned("s1", ActionKind.ENABLE, T0 + HOUR, source_id=b)
    assert _apply(engine, [moved], [(Source.BROADCAST, b)]) == ledger.PlanStats(1, 0, 1)
    with transaction(engine, immediate=False) as session:
        cancelled = session.get(Action, old_id)
        assert cancelled is not None
        assert (cancelled.state, cancelled.outcome) == ("cancelled", "schedule changed or cancelled")
        assert cancelled.idempotency_key == f"{old.key}#cancelled-{old_id}"
    assert _events(engine, old_id)[-1] == ("cancelled", "pending", "cancelled")

    # Moved back: the original instant is planned afresh, not lost behind the cancelled row.
    assert _apply(engine, [old], [(Source.BROADCAST, b)]) == ledger.PlanStats(1, 0, 1)
    assert _rows(engine)[old.key].state == "pending"


def test_rows_before_the_window_are_left_alone_but_dead_sources_lose_every_pending_row(
    engine: Engine,
) -> None:
    b1, b2 = _broadcast(engine, "s1"), _broadcast(engine, "s2")
    early1 = planned("s1", ActionKind.ENABLE, WINDOW - HOUR, source_id=b1, deadline=5 * HOUR)
    early2 = planned("s2", ActionKind.ENABLE, WINDOW - HOUR, source_id=b2, deadline=5 * HOUR)
    _apply(engine, [early1, early2], [(Source.BROADCAST, b1), (Source.BROADCAST, b2)])

    with engine.begin() as conn:
        conn.execute(
            text("UPDATE broadcasts SET cancelled_at = CURRENT_TIMESTAMP WHERE id = :id"), {"id": b2}
        )
    stats = _apply(engine, [], [(Source.BROADCAST, b1)])

    assert stats.cancelled == 1
    rows = _rows(engine)
    assert rows[early1.key].state == "pending"
    assert {a.state for k, a in rows.items() if k.startswith(early2.key)} == {"cancelled"}


def test_a_source_missing_from_the_plan_loses_its_rows_inside_the_window(engine: Engine) -> None:
    b = _broadcast(engine)
    _apply(engine, [planned("s1", ActionKind.ENABLE, T0, source_id=b)], [(Source.BROADCAST, b)])

    # The broadcast was moved far away: the planner did not load it, so it is not in scope.
    assert _apply(engine, [], []).cancelled == 1


def test_a_bigger_plan_is_applied_in_bulk(engine: Engine) -> None:
    b = _broadcast(engine)
    plan = [
        planned(f"s{i % 50}", ActionKind.ENABLE, T0 + timedelta(minutes=i), source_id=b) for i in range(3000)
    ]

    assert _apply(engine, plan, [(Source.BROADCAST, b)]).inserted == 3000
    assert _apply(engine, plan[1000:], [(Source.BROADCAST, b)]) == ledger.PlanStats(0, 0, 1000)
    with transaction(engine, immediate=False) as session:
        counts = dict(session.execute(text("SELECT event, count(*) FROM action_events GROUP BY event")).all())
    assert counts == {"planned": 3000, "cancelled": 1000}


def test_two_different_actions_under_one_key_are_refused(engine: Engine) -> None:
    a = planned("s1", ActionKind.ENABLE, T0, key="k")
    b = planned("s1", ActionKind.ENABLE, T0 + HOUR, key="k")

    with pytest.raises(ValueError, match="two different actions with idempotency key 'k'"):
        _apply(engine, [a, b], [])
    assert _rows(engine) == {}


def test_pending_rows_past_their_deadline_are_missed_with_the_reason(engine: Engine) -> None:
    b = _broadcast(engine)
    late = planned("s1", ActionKind.ENABLE, T0, source_id=b, deadline=timedelta(minutes=10), key="late")
    fine = planned("s1", ActionKind.FINISH, T0 + HOUR, source_id=b, key="fine")
    _apply(engine, [late, fine], [(Source.BROADCAST, b)])

    with transaction(engine) as session:
        missed = ledger.mark_missed(session, T0 + timedelta(minutes=10))
    with transaction(engine) as session:
        assert ledger.mark_missed(session, T0 + timedelta(minutes=20)) == []

    rows = _rows(engine)
    assert [m.id for m in missed] == [rows["late"].id]
    assert rows["late"].state == ActionState.MISSED
    assert rows["late"].outcome == "deadline passed at 2026-11-27T18:10:00+00:00 before it could run"
    assert rows["fine"].state == "pending"
    assert _events(engine, rows["late"].id)[-1] == ("missed", "pending", "missed")

"""The ops board's data on both backends: rows by stream name, slots and actions placed on a 30-hour
window (6 h back, 24 h ahead), a failed action with its cause, nothing outside the window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.integration.store_support import BACKENDS, migrated_engine
from worker.service.ops_board import SCALE, ops_board
from worker.store.db import transaction
from worker.store.models import Action, Broadcast, OffHours
from worker.store.pauses import add_pause, end_pause
from worker.store.schedules import upsert_stream

NOW = datetime(2027, 1, 12, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
MAIN, SIDE = "a1b2c3d4e5f60718293a4b5c6d7e8f90", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    for engine in migrated_engine(request, tmp_path):
        with transaction(engine) as session:
            upsert_stream(session, MAIN, name="Main stage", status="idle", seen_at=NOW)
            upsert_stream(session, SIDE, name="Side stage", status="idle", seen_at=NOW)
        yield engine


def _broadcast(engine: Engine, start: datetime, title: str) -> int:
    with transaction(engine) as session:
        row = Broadcast(stream_id=MAIN, starts_at=start, ends_at=start + H, lead_seconds=0, title=title)
        session.add(row)
        session.flush()
        return row.id


def _action(engine: Engine, broadcast_id: int, due: datetime, state: str, error: str | None = None) -> int:
    with transaction(engine) as session:
        row = Action(
            idempotency_key=f"test:{broadcast_id}:{due.isoformat()}",
            stream_id=MAIN,
            kind="enable",
            source="broadcast",
            source_id=broadcast_id,
            due_at=due,
            deadline_at=due + H,
            next_attempt_at=due,
            state=state,
            reason="test",
            last_error=error,
        )
        session.add(row)
        session.flush()
        return row.id


def test_the_board_places_slots_and_actions_on_the_window_with_causes(engine: Engine) -> None:
    past = _broadcast(engine, NOW - 3 * H, "earlier")
    failed = _action(engine, past, NOW - 3 * H, "failed", 'FastPix 500 "internal error" on PUT')
    done = _action(engine, past, NOW - 2 * H, "succeeded")
    too_old = _broadcast(engine, NOW - 10 * H, "long ago")
    _action(engine, too_old, NOW - 10 * H, "failed", "old")

    board = ops_board(engine, NOW)
    assert (board.start, board.end, board.now_x) == (NOW - 6 * H, NOW + 24 * H, SCALE * 6 / 30)
    assert [r.name for r in board.rows] == ["Main stage", "Side stage"]
    main, side = board.rows
    assert [(b.label, b.x, b.width) for b in main.slots] == [(f"broadcast #{past} earlier", 100.0, 33.3)]
    dots = {d.action_id: d for d in main.dots}
    assert set(dots) == {failed, done}
    assert dots[failed].state == "failed" and "FastPix 500" in (dots[failed].cause or "")
    assert dots[done].state == "succeeded" and dots[done].cause is None
    assert dots[failed].x == 100.0
    assert side.slots == [] and side.dots == []
    assert board.hours[0] == (33.3, NOW - 5 * H)  # positions to a tenth of a per-mille


def test_off_hours_windows_are_shaded_on_each_stream_they_apply_to(engine: Engine) -> None:
    with transaction(engine) as session:
        session.add(OffHours(stream_id=None, cron="0 22 * * *", duration_seconds=3600, timezone="UTC"))
        session.add(OffHours(stream_id=SIDE, cron="0 3 * * *", duration_seconds=7200, timezone="UTC"))
    main, side = ops_board(engine, NOW).rows
    nightly = (533.3, 33.4)  # 22:00-23:00 of a window from 06:00 to 12:00 the next day (566.7 - 533.3)
    assert [(b.x, b.width) for b in main.off_hours] == [nightly]
    assert sorted((b.x, b.width) for b in side.off_hours) == [nightly, (700.0, 66.7)]


def test_pauses_in_the_window_are_drawn_on_their_row_and_the_one_in_force_marks_it_paused(
    engine: Engine,
) -> None:
    with transaction(engine) as session:
        # Resumed 2 h ago: drawn, not in force. Lapsed before the window: not drawn at all.
        over = add_pause(session, MAIN, by="ops:Night Desk", note="swap", until=None, now=NOW - 4 * H)
        end_pause(session, over, by="ops:Night Desk", at=NOW - 2 * H)
        add_pause(session, SIDE, by="ada", note="old", until=NOW - 7 * H, now=NOW - 9 * H)
        # In force, until 3 h from now.
        add_pause(session, MAIN, by="ops:Night Desk", note="encoder", until=NOW + 3 * H, now=NOW - H)

    main, side = ops_board(engine, NOW).rows
    assert [(b.x, b.width) for b in main.pauses] == [(66.7, 66.6), (166.7, 133.3)]
    assert "swap" in main.pauses[0].label and "ended" in main.pauses[0].label
    assert main.paused is not None and "paused by ops:Night Desk" in main.paused
    assert "encoder" in main.paused
    assert side.pauses == [] and side.paused is None

"""How much the planner tick works (issue 10), by the counts its report gives, on both backends: after
the cold tick nothing is planned again, an edit re-plans only its stream around the edited slot, and
a tick with nothing changed reads no schedule; a cold tick of dense series plans the next hours before
it writes two days of occurrences."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from sqlalchemy import Engine, delete, event, insert, select, text, update

from tests.integration.store_support import BACKENDS, migrated_engine
from worker.clock import FixedClock
from worker.config import FastPixSettings, OnairSettings
from worker.service import planning
from worker.service.planning import PlanReport, plan_tick, planning_end
from worker.service.runtime import Runtime
from worker.store import schedules
from worker.store.models import Broadcast, BroadcastSeries, Stream

START = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
STREAMS = ("s1", "s2", "s3")
EVERY = timedelta(minutes=10)
# Each stream: a 5-minute broadcast every 10 minutes for the next 26 hours (156 a stream).
SLOTS = 156


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


def _night(engine: Engine) -> None:
    """The broadcasts written with plain SQL, as an operator would: every row carries needs_check."""
    with engine.begin() as conn:
        conn.execute(insert(Stream), [{"stream_id": s, "name": s} for s in STREAMS])
        conn.execute(
            insert(Broadcast),
            [
                {
                    "stream_id": stream,
                    "starts_at": START + n * EVERY,
                    "ends_at": START + n * EVERY + timedelta(minutes=5),
                    "lead_seconds": 30,
                    "title": f"show {n}",
                }
                for stream in STREAMS
                for n in range(1, SLOTS + 1)
            ],
        )


def _tick(engine: Engine, clock: FixedClock, *, full: bool = False) -> PlanReport:
    rt = Runtime(OnairSettings(full_plan_minutes=10**9), FastPixSettings(), clock)
    rt.engine = engine
    return plan_tick(rt, full=full)


def _unchecked(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM broadcasts WHERE needs_check")) or 0)


def test_after_the_cold_tick_the_next_tick_plans_no_broadcast_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches, so the cold tick has many of them to clear (as 75,000 rows would at full size).
    monkeypatch.setattr(schedules, "CHECK_BATCH", 50)
    monkeypatch.setattr(planning, "CLAIM_CHUNK", 40)
    _night(engine)
    with engine.begin() as conn:  # far beyond the window, on a stream nobody registered
        conn.execute(
            insert(Broadcast).values(
                stream_id="nobody",
                starts_at=START + timedelta(days=5),
                ends_at=START + timedelta(days=5, hours=1),
            )
        )
    clock = FixedClock(START)

    cold = _tick(engine, clock)

    assert cold.full and cold.inserted >= 2 * 140 * len(STREAMS)  # 24 h of slots: enable, finish
    assert _unchecked(engine) == 0
    with engine.connect() as conn:
        reason = conn.scalar(select(Broadcast.invalid_reason).where(Broadcast.stream_id == "nobody"))
    assert reason is not None and "nobody" in reason  # judged by the cold tick, wherever it lies
    after = _tick(engine, clock)
    assert not after.full
    assert (after.replanned_streams, after.computed, after.rows_read) == (0, 0, 0)
    assert (after.inserted, after.updated, after.cancelled, after.flagged) == (0, 0, 0, 0)


def test_an_edit_replans_only_its_stream_around_the_edited_slot(engine: Engine) -> None:
    _night(engine)
    clock = FixedClock(START)
    _tick(engine, clock)
    edited_start = START + 60 * EVERY  # 10 hours ahead
    with engine.begin() as conn:
        conn.execute(
            update(Broadcast)
            .where(Broadcast.stream_id == "s2", Broadcast.starts_at == edited_start)
            .values(title="the final")
        )

    report = _tick(engine, clock)

    assert not report.full and report.replanned_streams == 1
    # The slots from an hour before the edited one to its end (7 slots, 2 actions each), not the
    # stream's whole window (over 300 actions).
    assert 0 < report.computed <= 20, report
    assert report.rows_read <= 25, report  # and the slots of an hour either side, to plan them
    assert (report.updated, report.inserted, report.cancelled) == (2, 0, 0)  # reasons naming the title
    with engine.connect() as conn:
        reasons = list(
            conn.scalars(
                text("SELECT reason FROM actions WHERE state = 'pending' AND reason LIKE '%the final%'")
            )
        )
    assert sorted(r.split()[0] for r in reasons) == ["enable", "finish"]
    check = _tick(engine, clock, full=True)
    assert (check.inserted, check.updated, check.cancelled, check.flagged) == (0, 0, 0, 0)


def test_a_moved_broadcast_is_replanned_where_it_was_and_where_it_is(engine: Engine) -> None:
    _night(engine)
    clock = FixedClock(START)
    _tick(engine, clock)
    with engine.begin() as conn:
        conn.execute(  # 2 hours ahead moved 7 minutes later: it now ends back to back with the next
            update(Broadcast)
            .where(Broadcast.stream_id == "s1", Broadcast.starts_at == START + 12 * EVERY)
            .values(
                starts_at=START + 12 * EVERY + timedelta(minutes=5),
                ends_at=START + 13 * EVERY - timedelta(seconds=30),
            )
        )

    report = _tick(engine, clock)

    assert not report.full and report.replanned_streams == 1 and report.computed <= 20
    # Its enable moved (a new key; the old one cancelled); it now ends as the next slot begins, so its
    # finish is dropped; the slot before may now finish until the moved one begins.
    assert (report.inserted, report.cancelled, report.updated) == (1, 2, 1), report
    check = _tick(engine, clock, full=True)
    assert (check.inserted, check.updated, check.cancelled, check.flagged) == (0, 0, 0, 0)


def test_a_tick_with_nothing_changed_reads_no_schedule(engine: Engine) -> None:
    _night(engine)
    # Just past a step of the window's end, so no new time enters the horizon in the next 15 s.
    clock = FixedClock(planning_end(START, timedelta(0)) + timedelta(seconds=1))
    _tick(engine, clock)
    for _ in range(3):
        clock.advance(5)
        report = _tick(engine, clock)
        assert not report.full and not report.changed
        assert (report.replanned_streams, report.computed, report.rows_read) == (0, 0, 0)
        with engine.connect() as conn:
            planned = conn.scalar(text("SELECT value FROM scheduler_state WHERE key = 'last_plan_at'"))
        # `onair timeline` shows a tick of the last two: idle ticks write it every other tick.
        assert clock.now() - timedelta(seconds=5) <= datetime.fromisoformat(planned) <= clock.now()


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` meanwhile (BEGIN and the like left out)."""
    statements: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.split()[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_an_idle_tick_reads_once_and_writes_its_heartbeat_every_other_tick(engine: Engine) -> None:
    _night(engine)
    clock = FixedClock(planning_end(START, timedelta(0)) + timedelta(seconds=1))
    _tick(engine, clock)  # with the heartbeat, and the flagged rows compared
    seen: list[list[str]] = []
    for _ in range(2):
        clock.advance(5)
        with _statements(engine) as statements:
            report = _tick(engine, clock)
        assert report.idle and not report.changed
        seen.append(statements)
    glance, beat = seen

    assert len(glance) == 1 and glance[0].lstrip().upper().startswith("SELECT"), glance
    writes = [s for s in beat if not s.lstrip().upper().startswith("SELECT")]
    assert writes and all("scheduler_state" in s for s in writes), writes
    # The glance, then the heartbeat: the lease held free meanwhile, last_plan_at, planner:last_ok.
    assert len(beat) <= 4, beat


def test_a_deletion_or_a_new_rule_wakes_the_next_tick(engine: Engine) -> None:
    """A deleted broadcast (no needs_check to see) makes the next tick a full one, which cancels its
    actions; a new off-hours rule (plain SQL) re-plans every stream."""
    _night(engine)
    clock = FixedClock(planning_end(START, timedelta(0)) + timedelta(seconds=1))
    _tick(engine, clock)
    gone_start = START + 3 * EVERY
    with engine.begin() as conn:
        gone = conn.execute(
            delete(Broadcast).where(Broadcast.stream_id == "s3", Broadcast.starts_at == gone_start)
        )
        assert gone.rowcount == 1
    clock.advance(5)
    deleted = _tick(engine, clock)
    assert deleted.full and deleted.cancelled == 2, deleted  # its enable and its finish

    clock.advance(5)
    assert _tick(engine, clock).idle
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO off_hours (stream_id, cron, timezone, duration_seconds)"
                " VALUES ('s1', '0 3 * * *', 'UTC', 600)"
            )
        )
    clock.advance(5)
    ruled = _tick(engine, clock)
    assert ruled.full and not ruled.idle and ruled.inserted >= 1, ruled


def test_a_cold_tick_writes_each_slice_of_series_just_before_planning_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The soak's night from an empty ledger: a 2-minute slot every 4 minutes on each stream, as a
    series. The slots of the next hours are planned before two days of occurrences are written (on a
    loaded machine writing them all first took minutes while the near stretch ran out), and the cold
    tick leaves the ledger a full re-plan would."""
    with engine.begin() as conn:
        conn.execute(insert(Stream), [{"stream_id": s, "name": s} for s in STREAMS])
        conn.execute(
            insert(BroadcastSeries),
            [
                {
                    "stream_id": stream,
                    "cron": "0-59/4 * * * *",
                    "timezone": "UTC",
                    "duration_seconds": 120,
                    "lead_seconds": 20,
                    "starts_from": START,
                }
                for stream in STREAMS
            ],
        )
    # (the end of each stretch planned, the furthest occurrence written when it was planned)
    reach: list[tuple[datetime, datetime]] = []
    plan = planning._Tick._plan

    def noting(tick: Any, streams: set[str] | None, start: datetime, end: datetime) -> set[int]:
        with engine.connect() as conn:
            furthest = conn.scalar(select(Broadcast.starts_at).order_by(Broadcast.starts_at.desc()).limit(1))
        assert furthest is not None
        reach.append((end, furthest))
        return plan(tick, streams, start, end)

    monkeypatch.setattr(planning._Tick, "_plan", noting)
    clock = FixedClock(START)

    cold = _tick(engine, clock)

    window_end = planning_end(START, timedelta(hours=24))
    assert [end for end, _ in reach] == [
        START + planning.NEAR,
        *(START + ahead for ahead in planning.COLD_SLICES),
        window_end,
    ]
    for end, furthest in reach[:-1]:
        # The stretch's slots are written, and the hour after it (its finishes' deadlines), no more.
        assert end - EVERY <= furthest <= end + timedelta(hours=1), (end, furthest)
    assert reach[-1][1] >= START + timedelta(days=2) - EVERY  # the last: the series' whole horizon
    slots = 24 * 60 // 4
    with engine.connect() as conn:
        enables = conn.scalar(text("SELECT count(*) FROM actions WHERE kind = 'enable'"))
    assert cold.full and enables is not None and slots * len(STREAMS) <= enables <= (slots + 2) * len(STREAMS)
    assert _unchecked(engine) == 0
    monkeypatch.undo()
    with patch("worker.store.ledger.plan_changes_nothing", return_value=False):
        check = _tick(engine, clock, full=True)
    assert (check.inserted, check.updated, check.cancelled, check.flagged) == (0, 0, 0, 0), check.summary

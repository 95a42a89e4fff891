"""Retention: `onair db prune` and the workers' daily prune delete finished actions and their history
older than ONAIR_HISTORY_DAYS, keep per-day figures of them, and never touch unfinished actions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from tests.integration.cli_support import Onair, migrated_on_backend
from tests.integration.store_support import BACKENDS, T0
from worker.clock import FixedClock
from worker.config import FastPixSettings, OnairSettings
from worker.domain.retention import DailyFigure
from worker.service import retention
from worker.service.runtime import Runtime
from worker.store.db import transaction
from worker.store.models import (
    Action,
    ActionEvent,
    Broadcast,
    BroadcastSeries,
    BroadcastViewers,
    SchedulerState,
    StreamPause,
    WebhookEvent,
)

STREAM = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
OLD = T0 - timedelta(days=100)  # older than the default 90 days
RECENT = T0 - timedelta(days=10)
HOUR = timedelta(hours=1)


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


def add_action(
    engine: Engine,
    due: datetime,
    state: str = "succeeded",
    *,
    stream: str = STREAM,
    kind: str = "enable",
    calls: tuple[tuple[str, float], ...] = (),
) -> int:
    """An action with the history the scheduler writes: planned, then each call (method, seconds
    after due, first attempt), then its final state if it has one."""
    finished = due + timedelta(seconds=5) if state not in ("pending", "claimed") else None
    with transaction(engine) as session:
        action = Action(
            idempotency_key=f"test:{stream}:{kind}:{due.isoformat()}:{state}",
            stream_id=stream,
            kind=kind,
            source="broadcast",
            source_id=1,
            due_at=due,
            deadline_at=due + timedelta(hours=1),
            next_attempt_at=due,
            state=state,
            reason="test",
            finished_at=finished,
        )
        session.add(action)
        session.flush()
        events = [
            ActionEvent(action_id=action.id, stream_id=stream, at=due, actor="planner", event="planned")
        ]
        for method, after in calls:
            at = due + timedelta(seconds=after)
            events.append(
                ActionEvent(
                    action_id=action.id,
                    stream_id=stream,
                    at=at,
                    actor="w",
                    event="api_call",
                    attempt=1,
                    http_method=method,
                    http_path=f"/live/streams/{stream}",
                    http_status=200,
                    latency_ms=20.0,
                )
            )
        if finished is not None:
            events.append(
                ActionEvent(action_id=action.id, stream_id=stream, at=finished, actor="w", event=state)
            )
        session.add_all(events)
        return action.id


def history_of(engine: Engine, action_id: int) -> list[str]:
    with transaction(engine, immediate=False) as session:
        query = select(ActionEvent.event).where(ActionEvent.action_id == action_id).order_by(ActionEvent.id)
        return list(session.scalars(query))


def surviving(engine: Engine) -> set[int]:
    with transaction(engine, immediate=False) as session:
        return set(session.scalars(select(Action.id)))


def a_night(engine: Engine, now: datetime = T0) -> dict[str, int]:
    """Old finished actions (two timed, one missed), old unfinished ones, recent finished ones."""
    old, recent = now - (T0 - OLD), now - (T0 - RECENT)
    return {
        "fast": add_action(engine, old, calls=(("GET", 0.5), ("PUT", 1.2))),
        "slow": add_action(engine, old + timedelta(hours=1), calls=(("PUT", 3.0),)),
        "checked": add_action(engine, old + timedelta(hours=2), calls=(("GET", 0.25),)),
        "missed": add_action(engine, old + timedelta(hours=3), "missed"),
        "other": add_action(engine, old, stream=OTHER, kind="finish", calls=(("PUT", 0.1),)),
        "pending": add_action(engine, old + timedelta(hours=4), "pending"),
        "claimed": add_action(engine, old + timedelta(hours=5), "claimed", calls=(("GET", 1.0),)),
        "recent": add_action(engine, recent, calls=(("PUT", 0.2),)),
    }


def test_prune_deletes_only_old_finished_actions_and_keeps_their_figures(onair: Onair) -> None:
    engine = onair.engine
    ids = a_night(engine)
    kept_history = {k: history_of(engine, ids[k]) for k in ("pending", "claimed", "recent")}

    result = retention.prune(engine, T0, 90)

    assert surviving(engine) == {ids["pending"], ids["claimed"], ids["recent"]}
    assert {k: history_of(engine, ids[k]) for k in kept_history} == kept_history
    for gone in ("fast", "slow", "checked", "missed", "other"):
        assert history_of(engine, ids[gone]) == []
    assert (result.actions, result.events, result.kept_unfinished, result.days) == (5, 15, 2, 1)
    day = OLD.date()
    figures = retention.figures(engine, day, day + timedelta(days=1))
    assert figures == [
        DailyFigure(day, STREAM, "enable", "missed", 1, 0, None, None, None),
        # The write's departure, else the state check's: 1.2 s, 3 s and 0.25 s late.
        DailyFigure(day, STREAM, "enable", "succeeded", 3, 3, 1200.0, 3000.0, 3000.0),
        DailyFigure(day, OTHER, "finish", "succeeded", 1, 1, 100.0, 100.0, 100.0),
    ]
    assert retention.figures(engine, day, day + timedelta(days=1), OTHER) == figures[2:]
    # Nothing is left to prune: a second run deletes nothing and the figures stay as they were.
    again = retention.prune(engine, T0, 90)
    assert (again.actions, again.events) == (0, 0)
    assert retention.figures(engine, day, day + timedelta(days=1)) == figures


def test_retention_counts_whole_days(onair: Onair) -> None:
    engine = onair.engine
    midnight = datetime(T0.year, T0.month, T0.day, tzinfo=T0.tzinfo) - timedelta(days=30)
    before = add_action(engine, midnight - timedelta(minutes=1))  # and finished 5 s later
    after = add_action(engine, midnight)

    retention.prune(engine, T0, 30)

    assert surviving(engine) == {after}
    assert before not in surviving(engine)


def test_a_day_pruned_twice_adds_up(onair: Onair) -> None:
    """An action that finished after its day was pruned is folded into that day's figures."""
    engine = onair.engine
    add_action(engine, OLD, calls=(("PUT", 2.0),))
    late = add_action(engine, OLD + timedelta(hours=1), "pending")
    retention.prune(engine, T0, 90)
    with transaction(engine) as session:
        action = session.get(Action, late)
        assert action is not None
        action.state, action.finished_at = "succeeded", OLD + timedelta(hours=2)
        session.add(
            ActionEvent(
                action_id=late,
                stream_id=STREAM,
                at=OLD + timedelta(hours=1, seconds=5),
                actor="w",
                event="api_call",
                attempt=1,
                http_method="PUT",
            )
        )

    retention.prune(engine, T0, 90)

    day = OLD.date()
    assert retention.figures(engine, day, day + timedelta(days=1)) == [
        DailyFigure(day, STREAM, "enable", "succeeded", 2, 2, 5000.0, 5000.0, 5000.0)
    ]
    assert surviving(engine) == set()


def test_small_batches_keep_each_streams_day_whole(onair: Onair) -> None:
    engine = onair.engine
    for k in range(3):
        add_action(engine, OLD + timedelta(minutes=k), calls=(("PUT", k + 1.0),))
        add_action(engine, OLD + timedelta(minutes=k), stream=OTHER, calls=(("PUT", 10.0 * (k + 1)),))

    result = retention.prune(engine, T0, 90, batch=2)

    assert result.batches == 2  # one per stream: a batch never splits a stream's day
    day = OLD.date()
    assert retention.figures(engine, day, day + timedelta(days=1)) == [
        DailyFigure(day, STREAM, "enable", "succeeded", 3, 3, 2000.0, 3000.0, 3000.0),
        DailyFigure(day, OTHER, "enable", "succeeded", 3, 3, 20000.0, 30000.0, 30000.0),
    ]


def test_dry_run_counts_and_changes_nothing(onair: Onair) -> None:
    engine = onair.engine
    ids = a_night(engine, datetime.now(UTC))  # the command reads the system clock
    snapshot = onair.snapshot()

    dry = onair.ok("db", "prune", "--dry-run")

    assert onair.snapshot() == snapshot
    assert retention.figures(engine, date(2000, 1, 1), date(2100, 1, 1)) == []
    assert "would delete 5 finished actions and 15 history events due before" in dry.output
    assert "kept 2 pending or claimed actions older than that, with their history" in dry.output
    real = onair.ok("db", "prune")
    assert "deleted 5 finished actions and 15 history events due before" in real.output
    assert surviving(engine) == {ids["pending"], ids["claimed"], ids["recent"]}


def test_days_option_and_bad_settings(onair: Onair) -> None:
    engine = onair.engine
    recent = add_action(engine, datetime.now(UTC) - timedelta(days=10))

    bad = onair("db", "prune", ONAIR_HISTORY_DAYS="ninety")
    assert bad.exit_code == 1
    assert "ONAIR_HISTORY_DAYS='ninety': Input should be a valid integer" in bad.output
    zero = onair("db", "prune", ONAIR_HISTORY_DAYS="0")
    assert zero.exit_code == 1 and "ONAIR_HISTORY_DAYS=" in zero.output
    assert onair("db", "prune", "--days", "0").exit_code == 2
    assert surviving(engine) == {recent}

    assert onair("db", "prune", ONAIR_HISTORY_DAYS="5").exit_code == 0
    assert surviving(engine) == set()


def _runtime(url: str, now: datetime) -> Runtime:
    return Runtime(settings=OnairSettings(database_url=url), fastpix=FastPixSettings(), clock=FixedClock(now))


def test_the_daily_prune_runs_once_a_day_however_many_workers_call_it(onair: Onair) -> None:
    engine = onair.engine
    add_action(engine, OLD)
    workers = [_runtime(onair.url, T0) for _ in range(2)]
    start = threading.Barrier(len(workers))
    results: list[retention.PruneResult | None] = []

    def worker(rt: Runtime, name: str) -> None:
        start.wait()
        results.append(retention.daily(rt, name, T0))

    threads = [threading.Thread(target=worker, args=(rt, f"w{i}")) for i, rt in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    try:
        assert sorted(r is None for r in results) == [False, True]
        assert [r.actions for r in results if r is not None] == [1]
        # Later the same day: nobody prunes again, even with something new to prune.
        add_action(engine, OLD + timedelta(hours=1))
        assert retention.daily(workers[0], "w0", T0 + timedelta(hours=5)) is None
        assert len(surviving(engine)) == 1
        tomorrow = retention.daily(workers[1], "w1", T0 + timedelta(days=1))
        assert tomorrow is not None and tomorrow.actions == 1
    finally:
        for rt in workers:
            rt.engine.dispose()


def test_prune_truncates_the_sqlite_wal(tmp_path: Path) -> None:
    from tests.integration.cli_support import migrated_sqlite

    for onair in migrated_sqlite(tmp_path):
        for k in range(300):
            add_action(onair.engine, OLD + timedelta(seconds=k), calls=(("PUT", 1.0),))
        wal = tmp_path / "onair.db-wal"
        assert wal.stat().st_size > 0

        result = retention.prune(onair.engine, T0, 90)

        assert result.actions == 300
        assert result.wal is not None and result.wal[0] == 0
        assert wal.stat().st_size == 0


def add_broadcast(engine: Engine, starts: datetime, series_id: int | None, stream: str = STREAM) -> int:
    with transaction(engine) as session:
        row = Broadcast(
            stream_id=stream,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=2),
            lead_seconds=0,
            series_id=series_id,
        )
        session.add(row)
        session.flush()
        return row.id


def test_past_occurrences_of_a_series_go_once_their_actions_have(onair: Onair) -> None:
    engine = onair.engine
    with transaction(engine) as session:
        series = BroadcastSeries(
            stream_id=STREAM, cron="*/4 * * * *", duration_seconds=120, lead_seconds=0, starts_from=OLD
        )
        session.add(series)
        session.flush()
        series_id = series.id
    gone = add_broadcast(engine, OLD, series_id)
    add_action(engine, OLD, calls=(("PUT", 1.0),))  # source_id 1: not this occurrence's
    waiting = add_broadcast(engine, OLD + timedelta(minutes=4), series_id)
    with transaction(engine) as session:
        session.execute(update(Action).where(Action.state == "succeeded").values(source_id=gone))
    pending = add_action(engine, OLD + timedelta(minutes=4), "pending")
    with transaction(engine) as session:
        session.execute(update(Action).where(Action.id == pending).values(source_id=waiting))
    one_off = add_broadcast(engine, OLD + timedelta(minutes=8), None)
    recent = add_broadcast(engine, RECENT, series_id)

    dry = retention.prune(engine, T0, 90, dry_run=True)
    result = retention.prune(engine, T0, 90)

    assert dry.occurrences == 0  # its action is still there in a dry run
    assert result.occurrences == 1
    with transaction(engine, immediate=False) as session:
        assert set(session.scalars(select(Broadcast.id))) == {waiting, one_off, recent}
    assert retention.prune(engine, T0, 90).occurrences == 0


def other_history(engine: Engine, now: datetime) -> dict[str, set[Any]]:
    """Rows of every other table that grows, each old and recent (and, for pauses, one in force since
    long ago): what a prune at `now` must keep, by table."""
    old, recent = now - (T0 - OLD), now - (T0 - RECENT)
    with transaction(engine) as session:
        series = BroadcastSeries(
            stream_id=STREAM, cron="*/4 * * * *", duration_seconds=120, lead_seconds=0, starts_from=old
        )
        session.add(series)
        session.flush()
        occurrences = [
            Broadcast(stream_id=STREAM, starts_at=at, ends_at=at + timedelta(minutes=2), series_id=series.id)
            for at in (old, recent)
        ]
        pauses = [
            StreamPause(stream_id=STREAM, paused_at=old, paused_by="ops", resumed_at=old + HOUR),
            StreamPause(stream_id=STREAM, paused_at=old, paused_by="ops", until=recent, resumed_at=recent),
            StreamPause(stream_id=OTHER, paused_at=old, paused_by="ops"),  # in force since long ago
        ]
        session.add_all(occurrences + pauses)
        session.flush()
        session.add_all(
            [BroadcastViewers(broadcast_id=b.id, stream_id=STREAM, samples=3) for b in occurrences]
            + [
                WebhookEvent(event_id=f"ev-{i}", type="video.live_stream.idle", created_at=at, received_at=at)
                for i, at in enumerate((old, recent))
            ]
            + [
                SchedulerState(key=f"{prefix}{name}", value="", updated_at=at)
                for prefix in ("worker:", "consumer:")
                for name, at in (("retired@host", old), ("onair-0@host", recent))
            ]
            + [SchedulerState(key="last_tick_at", value="", updated_at=old)]
        )
        session.flush()
        return {
            "broadcasts": {occurrences[1].id},
            "broadcast_viewers": {occurrences[1].id},
            "stream_pauses": {pauses[1].id, pauses[2].id},
            "webhook_events": {"ev-1"},
            # and the planner's change counters (kept by triggers: never aged out)
            "scheduler_state": {
                "worker:onair-0@host",
                "consumer:onair-0@host",
                "last_tick_at",
                "schedule_changes",
                "broadcast_deletions",
            },
        }


def kept_rows(engine: Engine) -> dict[str, set[Any]]:
    with transaction(engine, immediate=False) as session:
        return {
            "broadcasts": set(session.scalars(select(Broadcast.id))),
            "broadcast_viewers": set(session.scalars(select(BroadcastViewers.broadcast_id))),
            "stream_pauses": set(session.scalars(select(StreamPause.id))),
            "webhook_events": set(session.scalars(select(WebhookEvent.event_id))),
            "scheduler_state": set(session.scalars(select(SchedulerState.key))),
        }


def test_every_growing_table_is_pruned_by_the_same_cutoff(onair: Onair) -> None:
    engine = onair.engine
    keep = other_history(engine, T0)
    ids = a_night(engine)
    with transaction(engine) as session:  # none of them is an occurrence's action
        session.execute(update(Action).values(source_id=0))

    dry = retention.prune(engine, T0, 90, dry_run=True)
    result = retention.prune(engine, T0, 90)

    expected = {"broadcasts": 1, "broadcast_viewers": 1, "webhook_events": 1, "stream_pauses": 1}
    assert {t: result.tables[t] for t in expected} == expected
    assert result.tables["scheduler_state"] == 2  # the retired worker's two heartbeats
    assert {t: dry.tables[t] for t in ("webhook_events", "stream_pauses", "scheduler_state")} == {
        "webhook_events": 1,
        "stream_pauses": 1,
        "scheduler_state": 2,
    }
    assert kept_rows(engine) == keep
    assert surviving(engine) == {ids["pending"], ids["claimed"], ids["recent"]}
    again = retention.prune(engine, T0, 90)
    assert sum(again.tables.values()) == 0


def test_dry_run_reports_each_table(onair: Onair) -> None:
    engine = onair.engine
    other_history(engine, datetime.now(UTC))  # the command reads the system clock
    before = kept_rows(engine)

    dry = onair.ok("db", "prune", "--dry-run")

    assert kept_rows(engine) == before
    assert "rows that would be deleted, per table:" in dry.output
    assert per_table(dry.output) == {
        "actions": "0",
        "action_events": "0",
        "broadcasts": "1",
        "broadcast_viewers": "1",
        "webhook_events": "1",
        "stream_pauses": "1",
        "scheduler_state": "2",
    }
    real = onair.ok("db", "prune")
    assert "rows deleted, per table:" in real.output
    assert per_table(real.output)["webhook_events"] == "1"
    assert kept_rows(engine) != before


def per_table(output: str) -> dict[str, str]:
    return dict(line.split() for line in output.splitlines() if line.startswith("  "))

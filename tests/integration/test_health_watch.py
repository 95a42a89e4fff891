"""What the planner's ticks leave for doctor and the alerts, on SQLite and PostgreSQL, with a real webhook
endpoint: a planner failing tick after tick is alerted once and its recovery too; a schedule row that
turns invalid is alerted once per row and reason, and again when valid (an off-hours rule written in
SQL whose windows overlap each other too, in the CLI's words, while the other rules plan); the daily
report is posted once a day however many watchdogs race for it; no worker consuming the actions queue
is alerted once per outage, and its recovery once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.integration.cli_support import STREAM, Onair, migrated_on_backend
from tests.integration.store_support import BACKENDS
from tests.integration.webhook_receiver import Receiver
from worker.clock import FixedClock
from worker.config import FastPixSettings, OnairSettings
from worker.domain.off_hours_rules import overlap_problem
from worker.service import alerts, planning
from worker.service.health import CheckResult, Doctor
from worker.service.runtime import Runtime
from worker.service.watchdog import Watchdog
from worker.store import observations, planner_state
from worker.store.db import make_engine, transaction
from worker.store.types import to_sqlite_text

NOW = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


def runtime(
    onair: Onair, webhook: str, clock: FixedClock, *, engine: Engine | None = None, **settings: str
) -> Runtime:
    return Runtime(
        OnairSettings(database_url=onair.url, alert_webhook_url=webhook, **settings),  # type: ignore[arg-type]
        FastPixSettings(),
        clock,
        engine=engine or onair.engine,
    )


def doctor(rt: Runtime, check: str) -> CheckResult:
    [result] = Doctor(rt.settings, rt.fastpix, rt.clock, rt.engine).run([check])
    return result


def test_a_failing_planner_fails_doctor_and_is_alerted_once_then_recovered(
    onair: Onair, receiver: Receiver, sender: alerts.AlertSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FixedClock(NOW)
    rt = runtime(onair, receiver.url, clock)
    planning.plan_tick(rt)
    assert doctor(rt, "planner").line().startswith("ok   planner  last successful tick 0.0 s ago")

    def broken(_: object) -> planning.PlanReport:
        raise RuntimeError("the schedules table is on fire")

    with monkeypatch.context() as patched:
        patched.setattr(planning._Tick, "run", broken)
        for _ in range(4):
            clock.advance(5)
            with pytest.raises(RuntimeError):  # a tick with work to do (an idle one never gets that far)
                planning.plan_tick(rt, full=True)
    assert sender.flush(10)
    [failing] = receiver.of_event("planner_failing")
    assert failing["text"] == (
        "onair: the planner failed 3 ticks in a row since 2026-11-27 22:00:05 UTC: "
        "RuntimeError: the schedules table is on fire"
    )
    failed = doctor(rt, "planner")
    assert (failed.ok, failed.detail) == (
        False,
        "the last tick failed (4 in a row since 22:00:05 UTC): RuntimeError: the schedules table is on fire",
    )

    clock.advance(5)
    planning.plan_tick(rt)
    planning.plan_tick(rt)
    assert sender.flush(10)
    [recovered] = receiver.of_event("planner_recovered")
    assert recovered["text"] == "onair: the planner recovered: it plans again after 4 failed ticks (20 s)"
    assert doctor(rt, "planner").ok and len(receiver.of_event("planner_failing")) == 1

    clock.advance(600)  # nobody ticked for ten minutes: a stalled planner is a failure
    stalled = doctor(rt, "planner")
    assert (stalled.ok, stalled.detail) == (False, "last successful tick 600.0 s ago (limit 30 s)")
    planning.plan_tick(rt)
    with transaction(rt.engine, immediate=False) as session:
        gaps = observations.gaps(session, "planner", NOW, clock.now() + timedelta(seconds=1))
    # Two gaps: the 25 s without a successful tick while it failed, and the ten minutes.
    assert [(g.start, g.end) for g in gaps] == [
        (NOW, NOW + timedelta(seconds=25)),
        (clock.now() - timedelta(seconds=600), clock.now()),
    ]


def test_idle_ticks_keep_the_planner_green_and_a_stopped_one_is_seen_at_its_limit(
    onair: Onair, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    """Idle ticks write no heartbeat of their own but every other one: doctor and the watchdog still
    see the planner live between them, the report sees no gap, and once the ticks stop they see it
    stopped when its last heartbeat is older than the limit."""
    clock = FixedClock(NOW)
    rt = runtime(onair, receiver.url, clock)
    planning.plan_tick(rt)
    dog = Watchdog(rt, "celery@planner", rt.settings)
    dog.started = time.monotonic() - 60  # past a fresh worker's grace
    for _ in range(24):  # two minutes at the beat's pace
        clock.advance(5)
        assert not planning.plan_tick(rt).changed
        check = doctor(rt, "planner")
        assert check.ok, check.detail
        dog.check_once()
    with transaction(rt.engine, immediate=False) as session:
        assert observations.gaps(session, "planner", NOW, clock.now()) == []
    clock.advance(31)  # the ticks stopped: the last heartbeat is 31 to 36 s old
    stopped = doctor(rt, "planner")
    assert not stopped.ok and stopped.detail.startswith("last successful tick 3"), stopped.detail
    dog.check_once()
    assert sender.flush(10)
    [stalled] = receiver.of_event("planner_stalled")
    assert stalled["text"].startswith("onair: the planner has not planned for 3")


def test_an_invalid_row_is_alerted_once_per_reason_and_again_when_valid(
    onair: Onair, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    clock = FixedClock(NOW)
    rt = runtime(onair, receiver.url, clock)
    onair.add_stream()
    with onair.engine.begin() as conn:
        row_id = conn.execute(
            text(
                "INSERT INTO broadcasts (stream_id, starts_at, ends_at, metadata) "
                "VALUES (:s, :a, :b, 'not json') RETURNING id"
            ),
            {"s": STREAM, "a": NOW + timedelta(hours=1), "b": NOW + timedelta(hours=2)},
        ).scalar_one()

    def set_metadata(value: str) -> None:
        with onair.engine.begin() as conn:
            conn.execute(text("UPDATE broadcasts SET metadata = :m WHERE id = :i"), {"m": value, "i": row_id})

    for _ in range(3):  # every tick sees it: one alert
        planning.plan_tick(rt)
        clock.advance(5)
    assert sender.flush(10)
    [invalid] = receiver.of_event("schedule_invalid")
    assert invalid["text"].startswith(f"onair: broadcasts#{row_id} is invalid and not planned: ")
    assert (invalid["table"], invalid["row_id"]) == ("broadcasts", row_id)
    warning = doctor(rt, "schedules")
    assert (warning.ok, warning.warning) == (True, True)
    assert warning.detail.startswith(f"1 invalid, not planned: broadcasts#{row_id}: ")

    set_metadata('{"show": "x"}')
    planning.plan_tick(rt)
    planning.plan_tick(rt)
    assert sender.flush(10)
    [valid] = receiver.of_event("schedule_valid")
    assert valid["text"].startswith(f"onair: broadcasts#{row_id} is valid again and planned (it was: ")
    assert doctor(rt, "schedules").line() == "ok   schedules  no invalid rows"

    set_metadata("not json")  # the same mistake again, later: told again
    planning.plan_tick(rt)
    assert sender.flush(10)
    assert [p["text"] for p in receiver.of_event("schedule_invalid")] == [invalid["text"]] * 2


def race(barrier: threading.Barrier, dog: Watchdog) -> None:
    barrier.wait()
    dog.check_once()


def test_the_daily_report_is_posted_once_however_many_watchdogs_race(
    onair: Onair, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    clock = FixedClock(NOW)
    report_at = {"report_at": "22:59 Europe/Berlin"}  # 21:59 UTC, a minute before NOW
    rts = [runtime(onair, receiver.url, clock, **report_at)]
    # A second process: its own engine, its own connections.
    second = runtime(onair, receiver.url, clock, engine=make_engine(onair.url), **report_at)
    rts.append(second)
    planning.plan_tick(rts[0])
    watchdogs = [Watchdog(rt, f"onair@{n}", rt.settings) for n, rt in enumerate(rts)]
    try:
        for _ in range(3):
            barrier = threading.Barrier(len(watchdogs))
            threads = [threading.Thread(target=race, args=(barrier, dog)) for dog in watchdogs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            clock.advance(5)
        assert sender.flush(10)
        [posted] = receiver.of_event("daily_report")
        assert posted["day"] == "2026-11-27" and posted["alert_key"] == "daily_report:2026-11-27"
        assert posted["text"].startswith(
            "onair report 2026-11-26 22:59:00 to 2026-11-27 23:00:00 (Europe/Berlin)\nBroadcasts: 0"
        )
        clock.advance(24 * 3600)  # the next day: its own report
        watchdogs[1].check_once()
        assert sender.flush(10)
        assert [p["day"] for p in receiver.of_event("daily_report")] == ["2026-11-27", "2026-11-28"]
    finally:
        second.engine.dispose()


def test_no_consumer_then_consumer_recovered_once_each_per_outage(
    onair: Onair, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    clock = FixedClock(NOW)
    rt = runtime(onair, receiver.url, clock, heartbeat_seconds="5")
    consuming = {"now": True}
    worker = Watchdog(rt, "celery@a", rt.settings, lambda: consuming["now"])
    planner = Watchdog(rt, "celery@planner", rt.settings)  # watches, consumes nothing
    for dog in (worker, planner):
        dog.started = time.monotonic() - 60  # past a fresh worker's grace

    def rounds(n: int) -> None:
        for _ in range(n):
            if consuming["now"]:
                worker.check_once()  # its heartbeat says its consumer consumes
            else:
                worker.check_consumers(clock.now())
            planner.check_consumers(clock.now())
            clock.advance(5)

    rounds(3)
    consuming["now"] = False  # the broker went away: the worker lives, its consumer does not
    rounds(6)
    consuming["now"] = True
    rounds(3)
    assert sender.flush(10)
    [gone] = receiver.of_event("no_consumer")
    [back] = receiver.of_event("consumer_recovered")
    assert gone["text"].startswith("onair: no worker consumes the actions queue (consumed nothing for ")
    assert back["text"] == "onair: a worker consumes the actions queue again after 35 s: celery@a"
    assert back["alert_key"] == f"consumer_recovered:{gone['last_consumer_at'][:19]}+00:00"

    consuming["now"] = False  # a second outage, later: told again, with its own recovery
    rounds(6)
    consuming["now"] = True
    rounds(2)
    assert sender.flush(10)
    assert len(receiver.of_event("no_consumer")) == 2
    assert len(receiver.of_event("consumer_recovered")) == 2


def test_a_rule_overlapping_itself_is_flagged_alerted_and_the_others_plan(
    onair: Onair, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    clock = FixedClock(NOW)
    rt = runtime(onair, receiver.url, clock)
    onair.add_stream()
    created = to_sqlite_text(NOW) if onair.engine.dialect.name == "sqlite" else NOW
    with onair.engine.begin() as conn:
        bad, good = (
            conn.execute(
                text(
                    "INSERT INTO off_hours (stream_id, cron, duration_seconds, created_at, updated_at)"
                    " VALUES (:s, :c, :d, :t, :t) RETURNING id"
                ),
                {"s": STREAM, "c": cron, "d": seconds, "t": created},
            ).scalar_one()
            for cron, seconds in (("*/2 * * * *", 180), ("0 23 * * *", 3600))
        )
    for _ in range(3):  # every tick agrees: one alert
        planning.plan_tick(rt)
        clock.advance(5)

    words = overlap_problem("*/2 * * * *", "UTC", timedelta(minutes=3), NOW)
    assert words is not None
    with onair.engine.connect() as conn:
        flags = dict(conn.execute(text("SELECT id, invalid_reason FROM off_hours")).all())
        planned = set(
            conn.execute(text("SELECT DISTINCT source_id FROM actions WHERE source = 'off_hours'")).scalars()
        )
    assert flags == {bad: words, good: None}
    assert planned == {good}
    check = doctor(rt, "schedules")
    assert (check.ok, check.warning) == (True, True)
    assert check.detail.startswith(f"1 invalid, not planned: off_hours#{bad}: its windows overlap")
    assert sender.flush(10)
    [alert] = receiver.of_event("schedule_invalid")
    assert alert["text"].startswith(f"onair: off_hours#{bad} is invalid and not planned: its windows overlap")


def test_a_long_tick_keeps_doctor_green_while_it_writes_and_not_once_it_stops(
    onair: Onair, receiver: Receiver
) -> None:
    """A cold tick of a busy night, or a whole re-plan, runs for minutes: each of its writes renews its
    lease, and doctor counts that as the planner working; a tick that stopped writing is not."""
    clock = FixedClock(NOW)
    rt = runtime(onair, receiver.url, clock)
    assert not doctor(rt, "planner").ok  # never ticked
    taken, _ = planner_state.take_lease(rt.engine, "cold-tick", clock.now(), planning.LEASE_TTL)
    assert taken is False
    clock.advance(20)
    with transaction(rt.engine) as session:
        assert planner_state.renew_lease(session, "cold-tick", clock.now())  # one of its writes
    clock.advance(25)
    working = doctor(rt, "planner")
    assert (working.ok, working.detail) == (
        True,
        "a long tick is under way, its last write 25.0 s ago (limit 30 s); last finished tick: never",
    )
    clock.advance(10)  # 35 s without a write: it is stuck, and says so
    stuck = doctor(rt, "planner")
    assert (stuck.ok, stuck.detail) == (False, "the planner has never ticked (limit 30 s)")

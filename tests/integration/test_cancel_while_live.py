"""Cancelling a slot according to where it stands, on both backends, through the service every front
door calls: on air, it ends now (finish and metadata restore planned for now, once, and the stream's
history says who ended it); ended, the cancel is refused with the reason and nothing changes; also
when the cancel is written in plain SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.integration.store_support import BACKENDS, backend_url, migrated
from worker.clock import FixedClock, SystemClock
from worker.config import OnairSettings
from worker.domain.specs import BroadcastSpec
from worker.domain.types import ActionState
from worker.service import broadcasts, control_log
from worker.service.bookings import BookingClosed, BookingInput, cancel_booking, create_booking
from worker.service.cancelling import Closed, Schedule, cancel
from worker.service.organisers import active_organiser_id, add_organiser
from worker.service.replanning import replan
from worker.service.streams_lookup import FoundStream
from worker.store.types import to_sqlite_text

STREAM = "d" * 32
FOUND = FoundStream(STREAM, "studio", "idle")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[OnairSettings, Engine]]:
    url = backend_url(request, tmp_path)
    for engine in migrated(url):
        yield OnairSettings(database_url=url, data_dir=str(tmp_path)), engine


def slot(start_min: float, end_min: float) -> BroadcastSpec:
    now = SystemClock().now()
    return BroadcastSpec(
        id=0,
        stream_id=STREAM,
        starts_at=now + timedelta(minutes=start_min),
        ends_at=now + timedelta(minutes=end_min),
        lead=timedelta(minutes=2),
        title="Late show",
        metadata={"show": "late"},
    )


def pending_end(engine: Engine, broadcast_id: int) -> list[tuple[str, str]]:
    return sorted(
        (a.kind, a.state)
        for a in broadcasts.actions_of(engine, broadcast_id)
        if a.kind in ("finish", "restore") and a.state != ActionState.CANCELLED.value
    )


def test_a_broadcast_cancelled_on_air_ends_now_once_and_history_says_who(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    now = SystemClock().now()
    saved = broadcasts.add_slot(settings, engine, slot(-10, 60), FOUND, now=now)
    nominal_end = saved.row.ends_at

    done = cancel(settings, engine, Schedule.BROADCAST, saved.row.id, now=now, actor="ada")
    assert (done.ended_early, done.ending, done.replan_failure) == (True, 2, None)
    actions = broadcasts.actions_of(engine, saved.row.id)
    live_end = [a for a in actions if a.kind in ("finish", "restore") and a.state == "pending"]
    assert sorted(a.kind for a in live_end) == ["finish", "restore"]
    assert all(abs(a.due_at - now) < timedelta(milliseconds=2) for a in live_end)
    assert {a.state for a in actions if a.due_at == nominal_end} == {ActionState.CANCELLED.value}
    finish = next(a for a in live_end if a.kind == "finish")
    assert finish.reason.endswith("cancelled while live, finished early")

    # Planned once: later ticks, incremental or whole, find nothing to add.
    for full in (False, True):
        replan(settings, engine, full=full)
    assert pending_end(engine, saved.row.id) == [("finish", "pending"), ("restore", "pending")]

    [event] = control_log.of_stream(engine, STREAM)
    assert (event.actor, event.event) == ("ada", "broadcast_cancelled")
    assert event.detail == f"broadcast #{saved.row.id} cancelled while live by ada: finished early"


def test_a_slot_not_yet_begun_is_cancelled_as_before(store: tuple[OnairSettings, Engine]) -> None:
    settings, engine = store
    now = SystemClock().now()
    saved = broadcasts.add_slot(settings, engine, slot(30, 60), FOUND, now=now)
    done = cancel(settings, engine, Schedule.BROADCAST, saved.row.id, now=now, actor="ada")
    assert (done.ended_early, done.cancelled) == (False, 4)
    assert {a.state for a in broadcasts.actions_of(engine, saved.row.id)} == {ActionState.CANCELLED.value}
    assert control_log.of_stream(engine, STREAM) == []


def test_cancelling_an_ended_slot_is_refused_for_broadcasts_and_bookings(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    clock = SystemClock()
    now = clock.now()
    ended = broadcasts.add_slot(settings, engine, slot(-60, -30), FOUND, now=now)
    with pytest.raises(
        Closed, match=rf"broadcast #{ended.row.id} ended at .*Z: there is nothing left to cancel"
    ):
        cancel(settings, engine, Schedule.BROADCAST, ended.row.id, now=now)
    row = broadcasts.get_broadcast(engine, ended.row.id)
    assert row is not None and row.cancelled_at is None

    add_organiser(engine, "Jazz Club", now=now, public_url="http://onair.test", feed=False)
    organiser = active_organiser_id(engine, "Jazz Club")
    wanted = BookingInput(STREAM, now + timedelta(seconds=2), now + timedelta(seconds=3), 0, None)
    booking = create_booking(settings, engine, clock, organiser, wanted)
    later = now + timedelta(seconds=5)
    with pytest.raises(Closed, match=rf"booking #{booking} by Jazz Club ended at"):
        cancel(settings, engine, Schedule.BROADCAST, booking, now=later)

    with pytest.raises(BookingClosed, match="there is nothing left to cancel"):
        cancel_booking(settings, engine, FixedClock(later), organiser, booking)
    row = broadcasts.get_broadcast(engine, booking)
    assert row is not None and row.cancelled_at is None


def test_a_booking_cancelled_on_air_through_the_api_service_ends_now(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    clock = SystemClock()
    now = clock.now()
    add_organiser(engine, "Jazz Club", now=now, public_url="http://onair.test", feed=False)
    organiser = active_organiser_id(engine, "Jazz Club")
    saved = broadcasts.add_slot(settings, engine, slot(-5, 60), FOUND, now=now, organiser_id=organiser)
    cancel_booking(settings, engine, clock, organiser, saved.row.id, actor="Jazz Club")
    assert pending_end(engine, saved.row.id) == [("finish", "pending"), ("restore", "pending")]
    [event] = control_log.of_stream(engine, STREAM)
    assert event.detail == (
        f"booking #{saved.row.id} by Jazz Club cancelled while live by Jazz Club: finished early"
    )


def test_a_cancel_written_in_sql_while_live_ends_the_broadcast_at_that_instant(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    now = SystemClock().now()
    saved = broadcasts.add_slot(settings, engine, slot(-10, 60), FOUND, now=now)
    at = now - timedelta(minutes=1)
    stamp = to_sqlite_text(at) if engine.dialect.name == "sqlite" else at
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE broadcasts SET cancelled_at = :at WHERE id = :id"), {"at": stamp, "id": saved.row.id}
        )
    replan(settings, engine)
    live_end = [
        a
        for a in broadcasts.actions_of(engine, saved.row.id)
        if a.kind in ("finish", "restore") and a.state == "pending"
    ]
    assert len(live_end) == 2 and all(abs(a.due_at - at) < timedelta(milliseconds=2) for a in live_end)

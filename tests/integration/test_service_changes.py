"""The service layer's changes to schedules, on both backends, as every front door calls them: a slot
is written and planned at once, a slot in the way is refused naming it, a cancellation cancels the
planned actions and says when a second one comes too late, and a row that does not exist is named.
Cancelling a slot on air ends it now (finish and metadata restore planned for now, once, and the
stream's history says who ended it), also when the cancel is written in plain SQL; cancelling an ended
one is refused with the reason and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.integration.store_support import BACKENDS, backend_url, migrated
from worker.clock import FixedClock, SystemClock
from worker.config import OnairSettings
from worker.domain.specs import BroadcastSpec
from worker.domain.types import ActionState
from worker.service import broadcasts, control_log, off_hours
from worker.service.bookings import BookingClosed, BookingInput, cancel_booking, create_booking
from worker.service.cancelling import Closed, Schedule, cancel
from worker.service.errors import InvalidInput, SlotConflict
from worker.service.organisers import active_organiser_id, add_organiser
from worker.service.records import Action
from worker.service.replanning import replan
from worker.service.streams_lookup import FoundStream
from worker.store.types import to_sqlite_text

STREAM = "c" * 32
FOUND = FoundStream(STREAM, "morning", "idle")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[OnairSettings, Engine]]:
    url = backend_url(request, tmp_path)
    for engine in migrated(url):
        yield OnairSettings(database_url=url, data_dir=str(tmp_path)), engine


def slot(start_h: float, end_h: float) -> BroadcastSpec:
    now = SystemClock().now()
    return BroadcastSpec(
        id=0,
        stream_id=STREAM,
        starts_at=now + timedelta(hours=start_h),
        ends_at=now + timedelta(hours=end_h),
        lead=timedelta(minutes=5),
        title="Morning show",
    )


def test_a_slot_is_planned_at_once_and_its_cancellation_cancels_its_actions(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    now = SystemClock().now()
    saved = broadcasts.add_slot(settings, engine, slot(1, 2), FoundStream(STREAM, "morning", "idle"), now=now)
    assert saved.replan_failure is None
    assert [a.kind for a in saved.actions] == ["enable", "finish"]

    done = cancel(settings, engine, Schedule.BROADCAST, saved.row.id, now=now)
    assert (done.already_at, done.cancelled, done.running) == (None, 2, 0)
    states = {a.state for a in broadcasts.actions_of(engine, saved.row.id)}
    assert states == {ActionState.CANCELLED.value}

    again = cancel(settings, engine, Schedule.BROADCAST, saved.row.id, now=now + timedelta(seconds=5))
    assert again.already_at is not None and again.cancelled == 0
    assert abs(again.already_at - now) < timedelta(milliseconds=1)  # SQLite keeps milliseconds
    with pytest.raises(InvalidInput) as missing:
        cancel(settings, engine, Schedule.BROADCAST, saved.row.id + 1000, now=now)
    assert [p.field for p in missing.value.problems] == ["id"]


def test_a_booking_in_the_way_of_a_broadcast_is_named_whichever_door_writes_second(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    clock = SystemClock()
    now = clock.now()
    first = broadcasts.add_slot(settings, engine, slot(1, 2), FoundStream(STREAM, "morning", "idle"), now=now)
    organiser = add_organiser(engine, "Jazz Club", now=now, public_url="http://onair.test", feed=False)
    assert organiser.feed_url is None and organiser.token

    wanted = BookingInput(STREAM, now + timedelta(hours=1, minutes=30), now + timedelta(hours=3), 0, None)
    with pytest.raises(SlotConflict) as taken:
        create_booking(settings, engine, clock, active_organiser_id(engine, "Jazz Club"), wanted)
    assert taken.value.conflicting_ids == (first.row.id,)

    with pytest.raises(SlotConflict, match=f"broadcast #{first.row.id} 'Morning show'"):
        broadcasts.add_slot(settings, engine, slot(1.5, 3), None, now=now)


def test_an_off_hours_rule_is_checked_before_it_is_written(store: tuple[OnairSettings, Engine]) -> None:
    settings, engine = store
    now = SystemClock().now()
    with pytest.raises(InvalidInput, match="label contains a control character"):
        off_hours.add_off_hours(
            settings,
            engine,
            stream=None,
            cron="0 22 * * *",
            duration=timedelta(hours=8),
            timezone="Europe/Berlin",
            label="night\x1b",
            now=now,
        )
    assert off_hours.list_off_hours(engine, include_all=True)[0] == []
    rule = off_hours.add_off_hours(
        settings,
        engine,
        stream=None,
        cron="0 22 * * *",
        duration=timedelta(hours=8),
        timezone="Europe/Berlin",
        label="night",
        now=now,
    )
    assert (rule.row.label, rule.row.invalid_reason, rule.replan_failure) == ("night", None, None)


# --- cancelling according to where the slot stands ---------------------------------------------------


def on_air(start_min: float, end_min: float) -> BroadcastSpec:
    """A slot with metadata (so it has a restore), `start_min` minutes from now."""
    return replace(slot(start_min / 60, end_min / 60), metadata={"show": "late"})


def ending(engine: Engine, broadcast_id: int) -> list[Action]:
    """The broadcast's finish and restore still to run."""
    return [
        a
        for a in broadcasts.actions_of(engine, broadcast_id)
        if a.kind in ("finish", "restore") and a.state == ActionState.PENDING.value
    ]


def ends_at(actions: list[Action], instant: datetime) -> bool:
    """Finish then restore, both due at `instant` (SQLite keeps milliseconds)."""
    kinds = sorted(a.kind for a in actions)
    return kinds == ["finish", "restore"] and all(
        abs(a.due_at - instant) < timedelta(milliseconds=2) for a in actions
    )


def test_a_broadcast_cancelled_on_air_ends_now_once_and_history_says_who(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    now = SystemClock().now()
    saved = broadcasts.add_slot(settings, engine, on_air(-10, 60), FOUND, now=now)

    done = cancel(settings, engine, Schedule.BROADCAST, saved.row.id, now=now, actor="ada")
    assert (done.ended_early, done.ending, done.replan_failure) == (True, 2, None)
    assert ends_at(ending(engine, saved.row.id), now)
    at_nominal_end = {
        a.state for a in broadcasts.actions_of(engine, saved.row.id) if a.due_at == saved.row.ends_at
    }
    assert at_nominal_end == {ActionState.CANCELLED.value}
    [finish] = [a for a in ending(engine, saved.row.id) if a.kind == "finish"]
    assert finish.reason.endswith("cancelled while live, finished early")

    # Planned once: later ticks, incremental or whole, find nothing to add.
    for full in (False, True):
        replan(settings, engine, full=full)
    assert ends_at(ending(engine, saved.row.id), now)

    [event] = control_log.of_stream(engine, STREAM)
    assert (event.actor, event.event) == ("ada", "broadcast_cancelled")
    assert event.detail == f"broadcast #{saved.row.id} cancelled while live by ada: finished early"


def test_a_slot_not_yet_begun_is_cancelled_as_before(store: tuple[OnairSettings, Engine]) -> None:
    settings, engine = store
    now = SystemClock().now()
    saved = broadcasts.add_slot(settings, engine, on_air(30, 60), FOUND, now=now)
    done = cancel(settings, engine, Schedule.BROADCAST, saved.row.id, now=now, actor="ops:Night Desk")
    assert (done.ended_early, done.cancelled) == (False, 4)
    assert {a.state for a in broadcasts.actions_of(engine, saved.row.id)} == {ActionState.CANCELLED.value}
    again = cancel(settings, engine, Schedule.BROADCAST, saved.row.id, now=now, actor="ops:Night Desk")
    assert again.already_at is not None
    # Who cancelled it is in the stream's history, once.
    [event] = control_log.of_stream(engine, STREAM)
    assert (event.actor, event.event) == ("ops:Night Desk", "broadcast_cancelled")
    assert event.detail == f"broadcast #{saved.row.id} cancelled (by ops:Night Desk)"


def test_cancelling_an_ended_slot_is_refused_for_broadcasts_and_bookings(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    now = SystemClock().now()
    ended = broadcasts.add_slot(settings, engine, on_air(-60, -30), FOUND, now=now)
    with pytest.raises(
        Closed, match=rf"broadcast #{ended.row.id} ended at .*Z: there is nothing left to cancel"
    ):
        cancel(settings, engine, Schedule.BROADCAST, ended.row.id, now=now)
    row = broadcasts.get_broadcast(engine, ended.row.id)
    assert row is not None and row.cancelled_at is None

    add_organiser(engine, "Jazz Club", now=now, public_url="http://onair.test", feed=False)
    organiser = active_organiser_id(engine, "Jazz Club")
    wanted = BookingInput(STREAM, now + timedelta(seconds=2), now + timedelta(seconds=3), 0, None)
    # Booked at `now`, not whenever a loaded machine gets there: 2 s ahead could already be past.
    booking = create_booking(settings, engine, FixedClock(now), organiser, wanted)
    later = now + timedelta(seconds=5)
    with pytest.raises(Closed, match=rf"booking #{booking} by Jazz Club ended at"):
        cancel(settings, engine, Schedule.BROADCAST, booking, now=later)
    with pytest.raises(BookingClosed, match="there is nothing left to cancel"):
        cancel_booking(settings, engine, FixedClock(later), organiser, booking)
    row = broadcasts.get_broadcast(engine, booking)
    assert row is not None and row.cancelled_at is None


def test_a_booking_cancelled_on_air_through_the_booking_service_ends_now(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    clock = SystemClock()
    now = clock.now()
    add_organiser(engine, "Jazz Club", now=now, public_url="http://onair.test", feed=False)
    organiser = active_organiser_id(engine, "Jazz Club")
    saved = broadcasts.add_slot(settings, engine, on_air(-5, 60), FOUND, now=now, organiser_id=organiser)
    cancel_booking(settings, engine, clock, organiser, saved.row.id, actor="Jazz Club")
    assert len(ending(engine, saved.row.id)) == 2
    [event] = control_log.of_stream(engine, STREAM)
    assert (
        event.detail
        == f"booking #{saved.row.id} by Jazz Club cancelled while live by Jazz Club: finished early"
    )


def test_a_cancel_written_in_sql_while_live_ends_the_broadcast_at_that_instant(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    now = SystemClock().now()
    saved = broadcasts.add_slot(settings, engine, on_air(-10, 60), FOUND, now=now)
    at = now - timedelta(minutes=1)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE broadcasts SET cancelled_at = :at WHERE id = :id"),
            {"at": to_sqlite_text(at) if engine.dialect.name == "sqlite" else at, "id": saved.row.id},
        )
    replan(settings, engine)
    assert ends_at(ending(engine, saved.row.id), at)

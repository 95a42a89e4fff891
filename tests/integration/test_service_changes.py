"""The service layer's changes to schedules, on both backends, as every front door calls them: a slot
is written and planned at once, a slot in the way is refused naming it, a cancellation cancels the
planned actions and says when a second one comes too late, and a row that does not exist is named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.integration.store_support import BACKENDS, backend_url, migrated
from worker.clock import SystemClock
from worker.config import OnairSettings
from worker.domain.specs import BroadcastSpec
from worker.domain.types import ActionState
from worker.service import broadcasts, off_hours
from worker.service.bookings import BookingInput, create_booking
from worker.service.cancelling import Schedule, cancel
from worker.service.errors import InvalidInput, SlotConflict
from worker.service.organisers import active_organiser_id, add_organiser
from worker.service.streams_lookup import FoundStream
from worker.store.db import transaction
from worker.store.models import ActionEvent

STREAM = "c" * 32


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


def test_a_cancellation_by_a_named_actor_is_in_the_streams_history_once(
    store: tuple[OnairSettings, Engine],
) -> None:
    settings, engine = store
    now = SystemClock().now()
    saved = broadcasts.add_slot(settings, engine, slot(1, 2), FoundStream(STREAM, "morning", "idle"), now=now)
    cancel(settings, engine, Schedule.BROADCAST, saved.row.id, now=now, actor="ops:Night Desk")
    cancel(settings, engine, Schedule.BROADCAST, saved.row.id, now=now, actor="ops:Night Desk")
    with transaction(engine, immediate=False) as session:
        said = session.execute(
            select(ActionEvent.stream_id, ActionEvent.actor, ActionEvent.event, ActionEvent.detail).where(
                ActionEvent.action_id.is_(None)
            )
        ).all()
    assert [tuple(r) for r in said] == [
        (
            STREAM,
            "ops:Night Desk",
            "broadcast_cancelled",
            f"broadcast #{saved.row.id} cancelled (by ops:Night Desk)",
        )
    ]

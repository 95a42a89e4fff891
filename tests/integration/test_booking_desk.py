"""The organiser pages' service layer on both backends: a collision names the slots in the way (the
organiser's own by id and title, anyone else's only as busy) and the next free slot of the same
length; a move does not collide with the booking itself; the week view splits slots into local days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from tests.integration.store_support import BACKENDS, migrated_engine
from worker.clock import FixedClock
from worker.config import OnairSettings
from worker.service import booking_desk
from worker.service.booking_desk import BookingCollides, TakenSlot
from worker.service.bookings import BookingInput, BookingNotFound
from worker.service.errors import InvalidInput
from worker.service.week_view import organiser_week
from worker.store.db import transaction
from worker.store.organisers import create_organiser
from worker.store.schedules import upsert_stream

NOW = datetime(2027, 1, 1, tzinfo=UTC)
T = datetime(2027, 1, 12, 18, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
STAGE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    for engine in migrated_engine(request, tmp_path):
        with transaction(engine) as session:
            upsert_stream(session, STAGE, name="Main stage", status="idle", seen_at=NOW)
            create_organiser(session, "Jazz Club", now=NOW)
            create_organiser(session, "Chess Society", now=NOW)
        yield engine


JAZZ, CHESS = 1, 2


def door(engine: Engine) -> tuple[OnairSettings, Engine, FixedClock]:
    """What a page hands the service: settings, the engine and a clock (fixed: bookings in 2027)."""
    return (
        OnairSettings(database_url=engine.url.render_as_string(hide_password=False), _env_file=None),
        engine,
        FixedClock(NOW),
    )


def slot(start: datetime, end: datetime, title: str | None = None, lead: int = 300) -> BookingInput:
    return BookingInput(STAGE, start, end, lead, title)


def test_a_collision_names_own_and_busy_slots_and_the_next_free_slot_of_the_same_length(
    engine: Engine,
) -> None:
    chess = booking_desk.book(*door(engine), CHESS, slot(T, T + H, "Chess final"))
    jazz = booking_desk.book(*door(engine), JAZZ, slot(T + 2 * H, T + 3 * H, "Warm-up"))
    with pytest.raises(BookingCollides) as caught:
        booking_desk.book(*door(engine), JAZZ, slot(T + 30 * M, T + 2 * H + 30 * M, "Long jam"))
    assert caught.value.taken == [
        TakenSlot(mine=False, id=None, title=None, starts_at=T - 5 * M, ends_at=T + H),
        TakenSlot(mine=True, id=jazz, title="Warm-up", starts_at=T + 2 * H - 5 * M, ends_at=T + 3 * H),
    ]
    assert chess != jazz
    # Two hours with a 5 min lead: the gap between them is too short; the first fit is after Warm-up.
    assert caught.value.free_at == (T + 3 * H + 5 * M, T + 5 * H + 5 * M)


def test_moving_a_booking_ignores_itself_and_refuses_a_collision_with_a_free_slot(engine: Engine) -> None:
    mine = booking_desk.book(*door(engine), JAZZ, slot(T, T + H, "Set"))
    booking_desk.move(*door(engine), JAZZ, mine, starts_at=T + 30 * M, ends_at=T + 90 * M, actor="Jazz")
    booking_desk.book(*door(engine), CHESS, slot(T + 2 * H, T + 3 * H))
    with pytest.raises(BookingCollides) as caught:
        booking_desk.move(*door(engine), JAZZ, mine, starts_at=T + 2 * H, ends_at=T + 3 * H, actor="Jazz")
    assert caught.value.free_at == (T + 3 * H + 5 * M, T + 4 * H + 5 * M)
    view = booking_desk.booking_view(engine, JAZZ, mine, now=NOW)
    assert (view.starts_at, view.ends_at, view.stream) == (T + 30 * M, T + 90 * M, "Main stage")


def test_another_organisers_booking_cannot_be_seen_moved_or_cancelled(engine: Engine) -> None:
    theirs = booking_desk.book(*door(engine), CHESS, slot(T, T + H, "Chess final"))
    with pytest.raises(BookingNotFound):
        booking_desk.booking_view(engine, JAZZ, theirs, now=NOW)
    with pytest.raises(BookingNotFound):
        booking_desk.cancel(*door(engine), JAZZ, theirs, actor="Jazz")
    with pytest.raises(BookingNotFound):
        booking_desk.move(*door(engine), JAZZ, theirs, starts_at=T + H, ends_at=T + 2 * H, actor="Jazz")
    assert not booking_desk.booking_view(engine, CHESS, theirs, now=NOW).cancelled


def test_bad_input_names_the_field_and_writes_nothing(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as caught:
        booking_desk.book(*door(engine), JAZZ, BookingInput("nope", T + H, T, 300, None))
    assert {p.field for p in caught.value.problems} == {"stream_id", "end"}
    week = organiser_week(engine, JAZZ, monday=date(2027, 1, 11), zone=BERLIN)
    assert all(day == [] for stream in week.streams for day in stream.days)


def test_the_week_splits_slots_by_local_day_and_shows_the_dst_change(engine: Engine) -> None:
    # Berlin: +01:00 until 02:00 on Sunday 28 March 2027, then +02:00.
    across = booking_desk.book(
        *door(engine),
        JAZZ,
        slot(datetime(2027, 3, 27, 22, tzinfo=UTC), datetime(2027, 3, 28, 2, tzinfo=UTC), "Night"),
    )
    booking_desk.book(
        *door(engine),
        CHESS,
        slot(datetime(2027, 3, 28, 20, tzinfo=UTC), datetime(2027, 3, 28, 21, tzinfo=UTC), "X"),
    )
    week = organiser_week(engine, JAZZ, monday=date(2027, 3, 24), zone=BERLIN)  # any day finds its Monday
    assert week.monday == date(2027, 3, 22) and week.previous == date(2027, 3, 15)
    assert [d.clocks_change for d in week.days] == [None] * 6 + ["clocks change: +01:00 to +02:00"]
    (stage,) = week.streams
    assert stage.name == "Main stage"
    saturday, sunday = stage.days[5], stage.days[6]
    assert [(s.id, s.title, s.starts, s.ends) for s in saturday] == [
        (across, "Night", "23:00 (+01:00)", "Sun 28 Mar 04:00 (+02:00)")
    ]
    assert [(s.mine, s.id, s.title, s.starts, s.ends) for s in sunday] == [
        (True, across, "Night", "Sat 27 Mar 23:00 (+01:00)", "04:00 (+02:00)"),
        (False, None, None, "21:55 (+02:00)", "23:00 (+02:00)"),
    ]

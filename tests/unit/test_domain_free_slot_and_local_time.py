"""The next free slot of the same length, and wall times read from a form in a named zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker.domain.free_slot import next_free_start
from worker.domain.local_time import clock_text, day_and_clock, read_wall_time, wall_input

H = timedelta(hours=1)
M = timedelta(minutes=1)
T = datetime(2027, 1, 12, 18, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def test_a_wanted_slot_that_is_free_stays_where_it_is() -> None:
    busy = [(T - 2 * H, T - H), (T + 2 * H, T + 3 * H)]
    assert next_free_start(busy, wanted_start=T, length=H, lead=5 * M) == T


def test_the_next_free_slot_starts_one_lead_after_the_slot_in_the_way() -> None:
    assert next_free_start([(T - H, T + 30 * M)], wanted_start=T, length=H, lead=5 * M) == T + 35 * M


def test_gaps_too_short_for_the_slot_and_its_lead_are_skipped() -> None:
    busy = [(T + 3 * H, T + 4 * H), (T, T + H), (T + H + 50 * M, T + 2 * H + 30 * M)]  # any order
    # After the first: 19:05 + 1 h would reach into the one starting 19:50; after that, 20:35 + 1 h
    # ends 21:35, inside the one from 21:00, so 22:05.
    assert next_free_start(busy, wanted_start=T, length=H, lead=5 * M) == T + 4 * H + 5 * M


def test_a_lead_that_would_reach_back_into_a_slot_moves_the_start() -> None:
    assert next_free_start([(T - H, T - 2 * M)], wanted_start=T, length=H, lead=5 * M) == T + 3 * M
    assert next_free_start([(T - H, T - 2 * M)], wanted_start=T, length=H, lead=timedelta(0)) == T


def test_a_wall_time_is_read_in_its_zone_with_winter_and_summer_offsets() -> None:
    assert read_wall_time("start", "2027-01-12T19:00", BERLIN) == datetime(2027, 1, 12, 18, tzinfo=UTC)
    assert read_wall_time("start", "2027-07-12T19:00", BERLIN) == datetime(2027, 7, 12, 17, tzinfo=UTC)
    # clocks go back on 31 Oct 2027: 02:30 happens twice, the first (still +02:00) is meant
    assert read_wall_time("end", "2027-10-31T02:30", BERLIN) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2027-03-28T02:30", "start: 2027-03-28 02:30 does not exist in Europe/Berlin"),
        ("tomorrow", "start: 'tomorrow' is not a date and time like 2026-12-07T19:00"),
        ("2027-01-12T19:00+01:00", "start: give the time without an offset; it is read in Europe/Berlin"),
    ],
)
def test_a_wall_time_that_cannot_be_read_names_the_field_and_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message.replace('+', '[+]')}"):
        read_wall_time("start", text, BERLIN)


def test_instants_are_shown_with_their_offset_and_round_trip_through_a_form() -> None:
    winter = datetime(2027, 1, 12, 18, tzinfo=UTC)
    assert day_and_clock(winter, BERLIN) == "Tue 12 Jan 19:00 (+01:00)"
    assert clock_text(datetime(2027, 3, 28, 1, tzinfo=UTC), BERLIN) == "03:00 (+02:00)"
    assert clock_text(winter, ZoneInfo("Asia/Kolkata")) == "23:30 (+05:30)"
    assert read_wall_time("start", wall_input(winter, BERLIN), BERLIN) == winter

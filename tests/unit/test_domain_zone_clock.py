"""Times shown by arithmetic on epoch seconds say exactly what the zoned-datetime path says, through
DST changes both ways, in zones with half-hour offsets and half-hour DST, and outside the period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker.domain.local_time import clock_text
from worker.domain.zone_clock import ZoneClock, offset_label

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/St_Johns",
    "UTC",
]
# Weeks holding a change: spring forward and fall back in the north and in the south.
WEEKS = [
    datetime(2027, 3, 8, tzinfo=UTC),
    datetime(2027, 3, 22, tzinfo=UTC),
    datetime(2027, 10, 25, tzinfo=UTC),
    datetime(2027, 10, 1, tzinfo=UTC),
    datetime(2027, 4, 1, tzinfo=UTC),
]


@pytest.mark.parametrize("zone_name", ZONES)
def test_every_minute_around_a_change_shows_as_the_zoned_path_shows_it(zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    for week in WEEKS:
        start, end = week.timestamp(), (week + timedelta(days=8)).timestamp()
        clock = ZoneClock(zone, start, end)
        at = start
        while at <= end:  # every 13 minutes and a few milliseconds
            moment = datetime.fromtimestamp(at, UTC)
            assert clock.clock(at) == clock_text(moment, zone), (zone_name, moment)
            shown = moment.astimezone(zone)
            assert clock.day(at) == f"{shown:%a} {shown.day} {shown:%b}", (zone_name, moment)
            at += 13 * 60 + 0.123


def test_the_instant_of_a_change_shows_the_new_offset_and_the_second_before_the_old() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    change = datetime(2027, 3, 28, 1, 0, tzinfo=UTC).timestamp()  # at 02:00 CET the clocks go to 03:00 CEST
    clock = ZoneClock(berlin, change - 86400, change + 86400)
    assert clock.clock(change - 0.001) == "01:59 (+01:00)"
    assert clock.clock(change) == "03:00 (+02:00)"


def test_instants_outside_the_period_are_still_right() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    summer = datetime(2027, 7, 1, 12, 0, tzinfo=UTC)
    clock = ZoneClock(
        berlin, datetime(2027, 1, 1, tzinfo=UTC).timestamp(), datetime(2027, 1, 2, tzinfo=UTC).timestamp()
    )
    assert clock.clock(summer.timestamp()) == "14:00 (+02:00)"


def test_offsets_read_as_people_write_them() -> None:
    assert [offset_label(o) for o in (0, 3600, -18000, 19800, -12600)] == [
        "+00:00",
        "+01:00",
        "-05:00",
        "+05:30",
        "-03:30",
    ]

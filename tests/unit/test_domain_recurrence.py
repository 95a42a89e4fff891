"""Cron expansion in a time zone: validation, and the DST rule in both directions, in Europe and America."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.domain.recurrence import expand, next_fire_after, validate_cron, validate_timezone, wall_to_utc

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


def test_unknown_time_zone_is_named() -> None:
    assert validate_timezone("Mars/Base") == "unknown time zone 'Mars/Base'"
    assert validate_timezone("../../etc/passwd") == "unknown time zone '../../etc/passwd'"
    assert validate_timezone("") == "time zone is empty"
    assert validate_timezone(BERLIN) is None
    assert validate_timezone("UTC") is None


def test_bad_cron_reasons_quote_the_expression() -> None:
    out_of_range = validate_cron("61 * * * *")
    assert out_of_range is not None
    assert out_of_range.startswith("bad cron expression '61 * * * *': ")
    assert "out of range" in out_of_range
    assert validate_cron("* * * *") == (
        "bad cron expression '* * * *': expected 5 fields (minute hour day-of-month month day-of-week), got 4"
    )
    six = validate_cron("0 0 * * * 5")
    assert six is not None and "got 6" in six
    assert validate_cron("0 0 30 2 *") == "bad cron expression '0 0 30 2 *': it never fires"
    assert validate_cron("@sometimes") is not None
    assert validate_cron("") == "cron expression is empty"


@pytest.mark.parametrize("expr", ["0 22 * * *", "*/30 * * * *", "0 9 * * 1-5", "@daily", "30 2 * * SUN"])
def test_good_cron_is_accepted(expr: str) -> None:
    assert validate_cron(expr) is None


def test_berlin_spring_forward_gap_fires_once_at_first_instant_after_the_gap() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 does not exist that day.
    fired = expand("30 2 * * *", BERLIN, utc(2026, 3, 28), utc(2026, 3, 31))
    assert fired == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]
    assert fired[1].astimezone(ZoneInfo(BERLIN)).strftime("%H:%M %Z") == "03:00 CEST"


def test_new_york_spring_forward_gap_fires_once_at_first_instant_after_the_gap() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    fired = expand("30 2 * * *", NEW_YORK, utc(2026, 3, 7), utc(2026, 3, 10))
    assert fired == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]


def test_berlin_fall_back_fires_once_at_first_occurrence() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens at 00:30 UTC and again at 01:30 UTC.
    fired = expand("30 2 * * *", BERLIN, utc(2026, 10, 24), utc(2026, 10, 27))
    assert fired == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_new_york_fall_back_fires_once_at_first_occurrence() -> None:
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens at 05:30 UTC and again at 06:30 UTC.
    fired = expand("30 1 * * *", NEW_YORK, utc(2026, 10, 31), utc(2026, 11, 3))
    assert fired == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_half_hourly_rule_is_silent_during_the_repeated_hour() -> None:
    fired = expand("*/30 * * * *", BERLIN, utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    # 01:00 01:30 02:00 02:30 CEST, then the second 02:xx pass (CET) is skipped, then 03:00 03:30 CET.
    assert fired == [
        utc(2026, 10, 24, 23, 0),
        utc(2026, 10, 24, 23, 30),
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 2, 0),
        utc(2026, 10, 25, 2, 30),
    ]


def test_half_hourly_rule_collapses_the_gap_into_one_firing() -> None:
    fired = expand("*/30 * * * *", NEW_YORK, utc(2026, 3, 8, 6), utc(2026, 3, 8, 8))
    # 01:00 01:30 EST, then 02:00, 02:30 (missing) and 03:00 EDT all land on 07:00 UTC once, 03:30 EDT.
    assert fired == [
        utc(2026, 3, 8, 6, 0),
        utc(2026, 3, 8, 6, 30),
        utc(2026, 3, 8, 7, 0),
        utc(2026, 3, 8, 7, 30),
    ]


def test_window_starting_exactly_at_the_gap_still_sees_the_shifted_firing() -> None:
    assert expand("30 2 * * *", BERLIN, utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)) == [utc(2026, 3, 29, 1)]


def test_expansion_is_half_open() -> None:
    fired = expand("0 22 * * *", "UTC", utc(2026, 11, 27, 22), utc(2026, 11, 28, 22))
    assert fired == [utc(2026, 11, 27, 22)]


def test_wall_to_utc_refuses_aware_input() -> None:
    with pytest.raises(ValueError, match="naive wall time"):
        wall_to_utc(utc(2026, 1, 1), ZoneInfo(BERLIN))


def test_expand_refuses_unknown_zone_and_naive_bounds() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        expand("0 * * * *", "Mars/Base", utc(2026, 1, 1), utc(2026, 1, 2))
    with pytest.raises(ValueError, match="no time zone"):
        expand("0 * * * *", BERLIN, datetime(2026, 1, 1), utc(2026, 1, 2))


def test_next_fire_after_is_strictly_after() -> None:
    assert next_fire_after("0 22 * * *", "UTC", utc(2026, 11, 27, 22)) == utc(2026, 11, 28, 22)
    assert next_fire_after("30 2 * * *", BERLIN, utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)


RULES = ["*/30 * * * *", "0 * * * *", "30 2 * * *", "0 1,2,3 * * *", "15 */2 * * *", "0 0 * * 0"]
ZONES = [BERLIN, NEW_YORK, "Australia/Lord_Howe", "America/Santiago", "UTC"]


@settings(max_examples=150, deadline=None)
@given(
    expr=st.sampled_from(RULES),
    tz=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    span_hours=st.integers(min_value=1, max_value=72),
)
def test_expansion_is_strictly_increasing_and_inside_the_window(
    expr: str, tz: str, start: datetime, span_hours: int
) -> None:
    begin = start.replace(tzinfo=UTC)
    end = begin + timedelta(hours=span_hours)
    fired = expand(expr, tz, begin, end)
    assert all(begin <= t < end for t in fired)
    assert all(a < b for a, b in itertools.pairwise(fired))
    assert all(t.tzinfo is UTC for t in fired)
    # Splitting the window in two changes nothing: ticks see the same instants.
    middle = begin + (end - begin) / 2
    assert expand(expr, tz, begin, middle) + expand(expr, tz, middle, end) == fired


@settings(max_examples=60, deadline=None)
@given(
    tz=st.sampled_from(ZONES),
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
)
def test_a_daily_rule_fires_exactly_once_per_local_day(tz: str, day: date) -> None:
    zone = ZoneInfo(tz)
    local_midnight = datetime.combine(day, datetime.min.time())
    begin = wall_to_utc(local_midnight, zone)
    end = wall_to_utc(local_midnight + timedelta(days=1), zone)
    assert len(expand("30 2 * * *", tz, begin, end)) == 1

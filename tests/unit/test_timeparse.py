"""What operators type into the scheduling commands, and how times are shown back to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cli.timeparse import (
    BadInput,
    display_zone,
    local_zone,
    parse_duration,
    parse_instant,
    parse_metadata_pairs,
    show_duration,
    show_instant,
)

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-11-27T19:00:00+01:00", None, datetime(2026, 11, 27, 18, 0, tzinfo=UTC)),
        ("2026-11-27T19:00:00Z", None, datetime(2026, 11, 27, 19, 0, tzinfo=UTC)),
        ("2026-11-27 19:00 Europe/Berlin", None, datetime(2026, 11, 27, 18, 0, tzinfo=UTC)),
        ("2026-07-01 19:00 Europe/Berlin", None, datetime(2026, 7, 1, 17, 0, tzinfo=UTC)),
        ("2026-11-27T19:00", "America/New_York", datetime(2026, 11, 28, 0, 0, tzinfo=UTC)),
        ("2026-11-27 19:00", "UTC", datetime(2026, 11, 27, 19, 0, tzinfo=UTC)),
        # An explicit offset wins over --tz: it already says which instant is meant.
        ("2026-11-27T19:00:00+01:00", "America/New_York", datetime(2026, 11, 27, 18, 0, tzinfo=UTC)),
    ],
)
def test_instants_with_a_certain_zone_become_utc(text: str, tz: str | None, expected: datetime) -> None:
    parsed = parse_instant(text, tz)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_a_time_without_any_zone_is_refused_with_the_ways_to_give_one() -> None:
    with pytest.raises(BadInput) as refused:
        parse_instant("2026-11-27 19:00", what="start")
    message = str(refused.value)
    assert "start '2026-11-27 19:00' has no time zone" in message
    assert "+01:00" in message and "Europe/Berlin" in message and "--tz" in message


@pytest.mark.parametrize(
    ("text", "tz", "fragment"),
    [
        ("tomorrow evening", None, "is not an ISO 8601 time"),
        ("2026-11-27 19:00 Mars/Olympus", None, "unknown time zone 'Mars/Olympus'"),
        ("2026-11-27 19:00", "Nowhere/City", "unknown time zone 'Nowhere/City'"),
        ("2026-03-29 02:30 Europe/Berlin", None, "does not exist in Europe/Berlin"),
        ("2026-10-25 02:30 Europe/Berlin", None, "happens twice in Europe/Berlin"),
        ("2026-11-27T19:00+01:00 Europe/Berlin", None, "both a UTC offset and a zone name"),
        ("   ", None, "is empty"),
    ],
)
def test_unusable_instants_say_why(text: str, tz: str | None, fragment: str) -> None:
    with pytest.raises(BadInput) as refused:
        parse_instant(text, tz)
    assert fragment in str(refused.value)


def test_the_repeated_hour_is_accepted_with_an_offset() -> None:
    first = parse_instant("2026-10-25T02:30:00+02:00")
    second = parse_instant("2026-10-25T02:30:00+01:00")
    assert second - first == timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("90m", 5400),
        ("8h", 28800),
        ("1h30m", 5400),
        ("2h5m10s", 7510),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0", "must be more than zero"),
        ("0m", "must be more than zero"),
        ("-5m", "is negative"),
        ("5 minutes", "is not a duration"),
        ("300", "'300' has no unit: write 300s or 300m"),
        ("5", "has no unit"),
        ("1m1h", "is not a duration"),
        ("h", "is not a duration"),
        ("", "is not a duration"),
    ],
)
def test_bad_durations_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(BadInput) as refused:
        parse_duration(text, what="duration")
    assert fragment in str(refused.value)


def test_a_zero_lead_is_allowed_where_zero_makes_sense() -> None:
    assert parse_duration("0", what="lead", allow_zero=True) == timedelta(0)
    with pytest.raises(BadInput, match="lead '-1m' is negative"):
        parse_duration("-1m", what="lead", allow_zero=True)


@given(st.integers(min_value=1, max_value=10 * 24 * 3600))
def test_shown_durations_read_back_as_the_same_length(seconds: int) -> None:
    assert parse_duration(show_duration(seconds)) == timedelta(seconds=seconds)


def test_instants_are_shown_on_the_operators_clock_with_the_offset() -> None:
    instant = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert show_instant(instant, BERLIN) == "2026-11-27 19:00:00 +01:00"
    assert show_instant(instant, ZoneInfo("America/New_York")) == "2026-11-27 13:00:00 -05:00"
    assert show_instant(instant, ZoneInfo("Asia/Kolkata")) == "2026-11-27 23:30:00 +05:30"
    assert show_instant(datetime(2026, 7, 1, 17, 0, tzinfo=UTC), BERLIN) == "2026-07-01 19:00:00 +02:00"
    assert show_instant(None, BERLIN) == ""


def test_the_display_zone_is_tz_when_given_else_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert local_zone() == ZoneInfo("Asia/Tokyo")
    assert display_zone(None) == ZoneInfo("Asia/Tokyo")
    assert display_zone("Europe/Berlin") == BERLIN
    with pytest.raises(BadInput, match="unknown time zone 'Europe/Nowhere'"):
        display_zone("Europe/Nowhere")


def test_without_tz_the_machine_zone_still_gives_aware_times(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TZ", raising=False)
    shown = show_instant(datetime(2026, 11, 27, 18, 0, tzinfo=UTC), local_zone())
    assert shown[-6] in "+-" and shown[-3] == ":"


def test_metadata_pairs() -> None:
    assert parse_metadata_pairs(None) is None
    assert parse_metadata_pairs(["show=morning", "lang=de=at"]) == {"show": "morning", "lang": "de=at"}
    with pytest.raises(BadInput, match="key=value, got 'novalue'"):
        parse_metadata_pairs(["novalue"])
    with pytest.raises(BadInput, match="key=value, got '=x'"):
        parse_metadata_pairs(["=x"])
    with pytest.raises(BadInput, match="'show' given twice"):
        parse_metadata_pairs(["show=a", "show=b"])

"""Occurrences of a recurring broadcast: bounds, the limit counted from the series' start, skipped local
dates, validation reasons, and the DST rule in Europe/Berlin and America/New_York, both directions."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.domain.series import (
    Occurrence,
    SeriesSpec,
    check_series,
    format_skip_dates,
    next_occurrences,
    nth_firing,
    occurrences,
    parse_skip_dates,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


def series(cron: str = "0 19 * * *", tz: str = "UTC", **changes: object) -> SeriesSpec:
    values: dict[str, object] = {
        "id": 7,
        "stream_id": "s1",
        "cron": cron,
        "timezone": tz,
        "duration": timedelta(minutes=90),
        "starts_from": utc(2026, 1, 1),
    }
    values.update(changes)
    return SeriesSpec(**values)  # type: ignore[arg-type]


def starts(found: list[Occurrence]) -> list[datetime]:
    return [o.start_utc for o in found]


def test_weekday_show_in_new_york_with_real_durations() -> None:
    spec = series("0 19 * * MON-FRI", NEW_YORK)
    found = occurrences(spec, utc(2026, 11, 27, 1), utc(2026, 12, 2, 1))
    # Fri 27, Mon 30, Tue 1 (19:00 EST = 00:00 UTC the next day); Thu 26 and
    # Wed 2 start outside the window.
    assert starts(found) == [utc(2026, 11, 28, 0), utc(2026, 12, 1, 0), utc(2026, 12, 2, 0)]
    assert [o.local_date for o in found] == [date(2026, 11, 27), date(2026, 11, 30), date(2026, 12, 1)]
    assert [o.end_utc - o.start_utc for o in found] == [timedelta(minutes=90)] * 3
    assert found[0] == Occurrence(utc(2026, 11, 28, 0), utc(2026, 11, 28, 1, 30), date(2026, 11, 27))


def test_window_is_half_open_and_starts_from_is_a_floor() -> None:
    spec = series(starts_from=utc(2026, 3, 2, 19))
    assert starts(occurrences(spec, utc(2026, 3, 1), utc(2026, 3, 4, 19))) == [
        utc(2026, 3, 2, 19),
        utc(2026, 3, 3, 19),
    ]
    later = series(starts_from=utc(2026, 3, 2, 19, 0, 1))
    assert starts(occurrences(later, utc(2026, 3, 1), utc(2026, 3, 4))) == [utc(2026, 3, 3, 19)]


def test_until_keeps_an_occurrence_starting_exactly_then() -> None:
    spec = series(until=utc(2026, 1, 3, 19))
    assert starts(occurrences(spec, utc(2026, 1, 1), utc(2026, 2, 1))) == [
        utc(2026, 1, 1, 19),
        utc(2026, 1, 2, 19),
        utc(2026, 1, 3, 19),
    ]


def test_limit_counts_from_the_series_start_not_from_the_window() -> None:
    spec = series(occurrence_limit=5)  # Jan 1..5 at 19:00 UTC
    assert starts(occurrences(spec, utc(2026, 1, 4), utc(2026, 2, 1))) == [
        utc(2026, 1, 4, 19),
        utc(2026, 1, 5, 19),
    ]
    assert occurrences(spec, utc(2026, 1, 6), utc(2027, 1, 1)) == []
    assert nth_firing(spec, 5) == utc(2026, 1, 5, 19)


def test_skipped_local_dates_count_towards_the_limit() -> None:
    # 23:30 in New York is the next day in UTC: the skip is by the LOCAL date.
    spec = series(
        "30 23 * * *",
        NEW_YORK,
        starts_from=utc(2026, 1, 1, 5),  # midnight in New York
        occurrence_limit=3,
        skip_dates="2026-01-01, 2026-01-02",
    )
    found = occurrences(spec, utc(2026, 1, 1), utc(2026, 2, 1))
    assert [o.local_date for o in found] == [date(2026, 1, 3)]
    assert starts(found) == [utc(2026, 1, 4, 4, 30)]


def test_a_limit_larger_than_a_finite_rule_ends_with_the_rule() -> None:
    # 29 February fires once in four years; the limit counts across chunks of expansion.
    spec = series("0 12 29 2 *", occurrence_limit=2, starts_from=utc(2026, 1, 1))
    assert starts(occurrences(spec, utc(2026, 1, 1), utc(2040, 1, 1))) == [
        utc(2028, 2, 29, 12),
        utc(2032, 2, 29, 12),
    ]


def test_a_minutely_rule_with_a_limit() -> None:
    spec = series("* * * * *", occurrence_limit=3, starts_from=utc(2026, 5, 1, 10, 0, 30))
    assert starts(occurrences(spec, utc(2026, 5, 1), utc(2026, 5, 2))) == [
        utc(2026, 5, 1, 10, 1),
        utc(2026, 5, 1, 10, 2),
        utc(2026, 5, 1, 10, 3),
    ]


# -- DST: a weekly show, one occurrence each week, at the documented instant -------------------------


def local(found: list[Occurrence], tz: str) -> list[str]:
    return [o.start_utc.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z") for o in found]


def test_berlin_spring_forward_weekly_0230_fires_once_after_the_gap() -> None:
    spec = series("30 2 * * SUN", BERLIN, duration=timedelta(hours=1))
    found = occurrences(spec, utc(2026, 3, 21), utc(2026, 4, 6))
    assert local(found, BERLIN) == ["2026-03-22 02:30 CET", "2026-03-29 03:00 CEST", "2026-04-05 02:30 CEST"]
    assert found[1].start_utc == utc(2026, 3, 29, 1, 0)
    assert found[1].end_utc == utc(2026, 3, 29, 2, 0)  # one real hour: 04:00 CEST
    assert found[1].local_date == date(2026, 3, 29)


def test_new_york_spring_forward_weekly_0230_fires_once_after_the_gap() -> None:
    spec = series("30 2 * * SUN", NEW_YORK)
    found = occurrences(spec, utc(2026, 3, 1), utc(2026, 3, 16))
    assert local(found, NEW_YORK) == ["2026-03-01 02:30 EST", "2026-03-08 03:00 EDT", "2026-03-15 02:30 EDT"]
    assert found[1].start_utc == utc(2026, 3, 8, 7, 0)


def test_berlin_fall_back_weekly_0230_fires_once_at_the_first_pass() -> None:
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice, the show runs at the first.
    spec = series("30 2 * * SUN", BERLIN)
    found = occurrences(spec, utc(2026, 10, 19), utc(2026, 11, 2))
    assert local(found, BERLIN) == ["2026-10-25 02:30 CEST", "2026-11-01 02:30 CET"]
    assert found[0].start_utc == utc(2026, 10, 25, 0, 30)
    assert found[0].end_utc == utc(2026, 10, 25, 2, 0)  # 90 real minutes: 03:00 CET


def test_new_york_fall_back_weekly_0130_fires_once_at_the_first_pass() -> None:
    spec = series("30 1 * * SUN", NEW_YORK)
    found = occurrences(spec, utc(2026, 10, 26), utc(2026, 11, 9))
    assert local(found, NEW_YORK) == ["2026-11-01 01:30 EDT", "2026-11-08 01:30 EST"]
    assert found[0].start_utc == utc(2026, 11, 1, 5, 30)
    assert found[0].end_utc == utc(2026, 11, 1, 7, 0)  # 02:00 EST, 90 real minutes later


def test_a_window_boundary_inside_the_repeated_hour_does_not_repeat_the_show() -> None:
    spec = series("30 1 * * SUN", NEW_YORK)
    first = occurrences(spec, utc(2026, 11, 1), utc(2026, 11, 1, 6))  # ends 01:00 EST, second pass
    second = occurrences(spec, utc(2026, 11, 1, 6), utc(2026, 11, 2))
    assert starts(first) == [utc(2026, 11, 1, 5, 30)]
    assert second == []


# -- validation --------------------------------------------------------------------------------------


def test_every_reason_is_named() -> None:
    spec = series(
        "61 * * * *",
        "Mars/Base",
        duration=timedelta(0),
        until=utc(2025, 12, 31),
        occurrence_limit=0,
        skip_dates="2026-12-25,25/12/2026",
        lead=timedelta(seconds=-1),
        metadata="[1]",
        reconnect_window=30,
    )
    reasons = check_series(spec)
    assert reasons[0].startswith("bad cron expression '61 * * * *': ")
    assert reasons[1:] == [
        "unknown time zone 'Mars/Base'",
        "duration 0 s is not positive",
        "lead -1 s is negative",
        "until 2025-12-31T00:00:00+00:00 is before starts_from 2026-01-01T00:00:00+00:00: "
        "the series would never run",
        "occurrence limit 0 is not positive",
        "skip date '25/12/2026' is not a date: use YYYY-MM-DD, separated by commas",
        "metadata must be a JSON object, got list",
        "reconnect window 30 s is outside 60..1800 s",
    ]
    with pytest.raises(
        ValueError, match=r"series #7 \(61 \* \* \* \* Mars/Base\) cannot be expanded: bad cron"
    ):
        occurrences(spec, utc(2026, 1, 1), utc(2026, 2, 1))


def test_a_good_series_has_no_reasons() -> None:
    assert (
        check_series(series(metadata='{"show": "news"}', reconnect_window=60, skip_dates=" ,2026-12-25, "))
        == []
    )


@pytest.mark.parametrize("text", ["2026-02-30", "2026-1-5", "tomorrow", "20261225"])
def test_bad_skip_dates_are_refused(text: str) -> None:
    dates, reason = parse_skip_dates(text)
    assert dates == frozenset()
    assert reason == f"skip date {text!r} is not a date: use YYYY-MM-DD, separated by commas"


def test_skip_dates_round_trip_sorted() -> None:
    dates, reason = parse_skip_dates("2027-01-01,2026-12-25")
    assert reason is None
    assert format_skip_dates(dates) == "2026-12-25,2027-01-01"
    assert format_skip_dates(set()) is None


# -- properties ----------------------------------------------------------------------------------------

CRONS = ["*/20 * * * *", "30 2 * * *", "30 1 * * SUN", "0 19 * * MON-FRI", "15 0,12 * * *", "0 3 1 * *"]
ZONES = [BERLIN, NEW_YORK, "Australia/Lord_Howe", "UTC"]
START = utc(2026, 1, 1)


@settings(max_examples=60, deadline=None)
@given(
    cron=st.sampled_from(CRONS),
    tz=st.sampled_from(ZONES),
    offset_hours=st.integers(0, 24 * 300),
    limit=st.none() | st.integers(1, 40),
    skip_days=st.sets(st.integers(0, 320), max_size=30),
    window_days=st.integers(1, 40),
    split_hours=st.integers(0, 24 * 40),
)
def test_occurrences_are_increasing_bounded_unskipped_and_split_stable(
    cron: str,
    tz: str,
    offset_hours: int,
    limit: int | None,
    skip_days: set[int],
    window_days: int,
    split_hours: int,
) -> None:
    skipped = {date(2026, 1, 1) + timedelta(days=d) for d in skip_days}
    spec = series(
        cron,
        tz,
        starts_from=START + timedelta(hours=offset_hours % 97),
        occurrence_limit=limit,
        skip_dates=format_skip_dates(skipped),
    )
    window_start = START + timedelta(hours=offset_hours)
    window_end = window_start + timedelta(days=window_days)
    found = occurrences(spec, window_start, window_end)

    assert all(a.start_utc < b.start_utc for a, b in itertools.pairwise(found))
    assert all(window_start <= o.start_utc < window_end and o.start_utc >= spec.starts_from for o in found)
    assert not any(o.local_date in skipped for o in found)
    assert all(o.local_date == o.start_utc.astimezone(ZoneInfo(tz)).date() for o in found)
    if limit is not None:
        everything = occurrences(spec, spec.starts_from, window_end)
        assert len(everything) <= limit
    split = min(window_start + timedelta(hours=split_hours), window_end)
    assert occurrences(spec, window_start, split) + occurrences(spec, split, window_end) == found


def test_next_occurrences_look_ahead_as_far_as_needed() -> None:
    weekly = series("30 1 * * SUN", NEW_YORK)
    assert [o.start_utc for o in next_occurrences(weekly, utc(2026, 10, 26), 2)] == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 8, 6, 30),
    ]
    leap = series("0 12 29 2 *", occurrence_limit=2)
    assert [o.start_utc for o in next_occurrences(leap, utc(2026, 1, 1), 3)] == [
        utc(2028, 2, 29, 12),
        utc(2032, 2, 29, 12),
    ]
    assert next_occurrences(leap, utc(2032, 2, 29, 12), 3) == []

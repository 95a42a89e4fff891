"""The viewer-count sampling rules: when a broadcast is sampled and when not, the interval's bounds, and
the figures shown for it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from worker.config import OnairSettings
from worker.domain.viewers import (
    ViewerFigures,
    check_every,
    look_seconds,
    period_start,
    sample_due,
    wait_bound,
)

START = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
EVERY = 60.0


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def due(
    now: datetime, status: str | None = "active", last: datetime | None = None, every: float = EVERY
) -> bool:
    return sample_due(
        starts_at=START, ends_at=END, stream_status=status, last_attempt_at=last, now=now, every=every
    )


def test_an_active_stream_in_its_slot_is_sampled_at_once() -> None:
    assert due(at(0))
    assert due(at(37))  # went live mid-period: no waiting for the next one


@pytest.mark.parametrize("status", ["idle", "preparing", "disabled", None])
def test_a_stream_that_is_not_active_is_never_sampled(status: str | None) -> None:
    assert not due(at(30), status=status)


def test_nothing_is_sampled_before_the_start_nor_from_the_end_on() -> None:
    assert not due(at(-1))  # the lead: enabled, maybe live, but not the show yet
    assert not due(END)
    assert not due(END + timedelta(minutes=5))
    assert due(END - timedelta(seconds=1))


def test_one_sample_per_period_whenever_the_looks_come() -> None:
    assert not due(at(59), last=at(37))  # sampled (or tried) in this period already
    assert due(at(60), last=at(37))
    assert due(at(61.5), last=at(37))
    assert not due(at(119), last=at(61.5))
    # A look that comes late does not shift the grid: the next period still starts at 2 min.
    assert due(at(120), last=at(61.5))
    assert due(at(300), last=at(61.5))  # looks missed for a while: one sample now, not a catch-up burst


def test_periods_start_on_the_slot_grid() -> None:
    assert period_start(START, at(0), EVERY) == START
    assert period_start(START, at(59.999), EVERY) == START
    assert period_start(START, at(60), EVERY) == at(60)
    assert period_start(START, at(125), 10.0) == at(120)


def test_a_sample_waits_for_the_budget_at_most_to_its_period_or_the_slot_end() -> None:
    assert wait_bound(START, END, at(10), EVERY) == at(60)
    assert wait_bound(START, at(30), at(10), EVERY) == at(30)


@pytest.mark.parametrize("seconds", [10.0, 60.0, 3600.0])
def test_intervals_of_ten_seconds_or_more_are_accepted(seconds: float) -> None:
    assert check_every(seconds) == seconds
    assert OnairSettings(viewers_every=seconds).viewers_every == seconds


@pytest.mark.parametrize("seconds", [9.99, 5.0, 0.0, -60.0, math.inf, math.nan])
def test_an_interval_under_ten_seconds_is_refused_saying_why(seconds: float) -> None:
    with pytest.raises(ValueError, match=r"must be at least 10 seconds .* the default is 60"):
        check_every(seconds)
    with pytest.raises(ValidationError, match="viewer-count sampling interval must be at least 10 seconds"):
        OnairSettings(viewers_every=seconds)


def test_the_setting_comes_from_the_environment_and_defaults_to_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert OnairSettings().viewers_every == 60.0
    monkeypatch.setenv("ONAIR_VIEWERS_EVERY", "15")
    assert OnairSettings().viewers_every == 15.0
    monkeypatch.setenv("ONAIR_VIEWERS_EVERY", "9")
    with pytest.raises(ValidationError, match="got 9"):
        OnairSettings()


def test_the_sampler_looks_often_enough_for_the_interval() -> None:
    assert look_seconds(10.0) == 2.5
    assert look_seconds(60.0) == 5.0


def test_figures_give_the_peak_and_the_average_of_the_samples() -> None:
    figures = ViewerFigures(
        samples=3, total=60, peak=30, peak_at=at(120), last=20, failures=1, last_error="500"
    )
    assert figures.average == 20.0
    assert figures.text() == "peak 30, average 20 (3 samples); 1 failed, last: 500"
    assert figures.text(lambda t: f"{t:%H:%M}").startswith("peak 30 at 19:02, average 20")
    shown = figures.to_json()
    assert (
        shown["peak"] == 30 and shown["average"] == 20.0 and shown["peak_at"] == "2026-11-30T19:02:00+00:00"
    )
    assert ViewerFigures(failures=2, last_error="timeout").text() == "no sample; 2 failed, last: timeout"
    assert ViewerFigures().average is None

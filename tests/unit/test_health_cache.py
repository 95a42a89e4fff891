"""Doctor's lines on the ops page are reused for a few seconds, never longer, and an action taken
from the pages makes the next page run them again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.service.health import CheckResult
from worker.service.health_cache import FRESH_FOR, RecentChecks

T = datetime(2027, 1, 12, 7, 0, tzinfo=UTC)


class Doctor:
    def __init__(self) -> None:
        self.runs = 0

    def run(self) -> list[CheckResult]:
        self.runs += 1
        return [CheckResult("backlog", True, f"run {self.runs}")]


def test_lines_are_reused_while_fresh_then_taken_again() -> None:
    doctor, recent = Doctor(), RecentChecks()
    assert recent.get(T, doctor.run)[0].detail == "run 1"
    assert recent.get(T + FRESH_FOR - timedelta(milliseconds=1), doctor.run)[0].detail == "run 1"
    assert recent.get(T + FRESH_FOR, doctor.run)[0].detail == "run 2"


def test_an_action_from_the_pages_makes_the_next_page_run_them_again() -> None:
    doctor, recent = Doctor(), RecentChecks()
    recent.get(T, doctor.run)
    recent.forget()
    assert recent.get(T + timedelta(seconds=1), doctor.run)[0].detail == "run 2"


def test_a_clock_set_back_never_keeps_lines_from_the_future() -> None:
    doctor, recent = Doctor(), RecentChecks()
    recent.get(T, doctor.run)
    assert recent.get(T - timedelta(seconds=1), doctor.run)[0].detail == "run 2"

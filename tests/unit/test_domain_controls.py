"""The rules of the operators' controls, as pure functions: pauses, an operator's retry, a collision
the lead causes, and off-hours windows that overlap each other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.domain.decisions import paused
from worker.domain.lead_conflicts import InTheWay, explain_lead
from worker.domain.off_hours_rules import overlap_problem
from worker.domain.pauses import Pause, holds, is_paused_outcome, pause_problems, revives, skipped_outcome
from worker.domain.rerun import NotUseful, Rerun, Slot, judge_retry
from worker.domain.types import ActionState

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
S = "0123456789abcdef0123456789abcdef"


# -- pauses -------------------------------------------------------------------------------------------


def test_a_pause_holds_until_resumed_or_until_its_until() -> None:
    forever = Pause(S, T0, "ada")
    until = Pause(S, T0, "ada", until=T0 + timedelta(hours=1))
    assert holds(forever, T0 + timedelta(days=30))
    assert holds(until, T0 + timedelta(minutes=59))
    assert not holds(until, T0 + timedelta(hours=1))


def test_an_action_due_while_paused_is_skipped_with_the_note() -> None:
    skip = paused(Pause(S, T0, "ada", note="encoder swap"))
    assert (skip.state, skip.outcome) == (ActionState.SKIPPED, "paused (encoder swap)")
    assert paused(Pause(S, T0, "ada")).outcome == "paused"
    assert is_paused_outcome("skipped", skipped_outcome("x"))
    assert is_paused_outcome("skipped", "paused")
    assert not is_paused_outcome("skipped", "not live at end")
    assert not is_paused_outcome("failed", "paused (x)")


@pytest.mark.parametrize(
    ("kind", "deadline", "expected"),
    [
        ("enable", T0 + timedelta(minutes=1), True),  # a broadcast under way is enabled after all
        ("update", T0 + timedelta(minutes=1), True),
        ("disable", T0 + timedelta(minutes=1), True),  # an off-hours window still on
        ("enable", T0, False),  # past its deadline: the slot is over
        ("finish", T0 + timedelta(minutes=1), False),  # the broadcast was left to the operator
        ("restore", T0 + timedelta(minutes=1), False),
    ],
)
def test_a_resume_brings_back_only_what_starts_or_shapes_a_slot_by_its_deadline(
    kind: str, deadline: datetime, expected: bool
) -> None:
    assert revives(kind, deadline, T0) is expected


def test_a_pause_refuses_an_until_in_the_past_and_a_bad_note() -> None:
    assert pause_problems(T0 + timedelta(minutes=1), "fine", T0) == []
    [(field, reason)] = pause_problems(T0, None, T0)
    assert field == "until" and "not in the future" in reason
    assert [f for f, _ in pause_problems(None, "a\x1bb", T0)] == ["note"]
    assert [f for f, _ in pause_problems(None, "x" * 501, T0)] == ["note"]


# -- an operator's retry ------------------------------------------------------------------------------

SLOT = Slot(ends_at=T0 + timedelta(hours=1), next_slot_start=None)


def test_a_failed_enable_reruns_by_the_end_of_its_broadcast() -> None:
    verdict = judge_retry("enable", "failed", now=T0, stored_deadline=T0 - timedelta(hours=9), slot=SLOT)
    assert verdict == Rerun(SLOT.ends_at)


def test_a_finish_reruns_by_its_finish_deadline_the_next_slot_bounding_it() -> None:
    slot = Slot(ends_at=T0, next_slot_start=T0 + timedelta(minutes=10))
    now = T0 + timedelta(minutes=2)
    assert judge_retry("finish", "missed", now=now, stored_deadline=T0, slot=slot) == Rerun(
        slot.next_slot_start
    )


@pytest.mark.parametrize(
    ("state", "slot", "now", "superseded", "reason"),
    [
        ("succeeded", SLOT, T0, None, "only a failed or missed action"),
        ("pending", SLOT, T0, None, "only a failed or missed action"),
        ("failed", Slot(T0 + timedelta(hours=1), None, cancelled=True), T0, None, "cancelled"),
        ("failed", SLOT, T0 + timedelta(hours=1), None, "the broadcast has ended"),
        ("missed", SLOT, T0, "the disable #9", "the disable #9 has run since"),
    ],
)
def test_a_retry_that_is_not_useful_is_refused_with_the_reason(
    state: str, slot: Slot, now: datetime, superseded: str | None, reason: str
) -> None:
    verdict = judge_retry("enable", state, now=now, stored_deadline=T0, slot=slot, superseded_by=superseded)
    assert isinstance(verdict, NotUseful) and reason in verdict.reason


def test_an_off_hours_action_keeps_its_window_deadline() -> None:
    end = T0 + timedelta(hours=2)
    assert judge_retry("disable", "failed", now=T0, stored_deadline=end, slot=None) == Rerun(end)
    late = judge_retry("disable", "failed", now=end, stored_deadline=end, slot=None)
    assert isinstance(late, NotUseful) and "off-hours window is over" in late.reason


# -- a collision the lead causes ----------------------------------------------------------------------


def test_the_lead_is_explained_with_both_fixes() -> None:
    other = InTheWay(
        "broadcast #1", datetime(2026, 12, 1, 0, 59, 55, tzinfo=UTC), datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    )
    starts_at = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    assert explain_lead(starts_at, timedelta(minutes=5), [other]) == (
        "your 5m lead makes this slot start at 01:25, inside broadcast #1 (00:59:55-01:30); "
        "start at 01:35 or use a lead of at most 0s"
    )
    later = datetime(2026, 12, 1, 1, 33, tzinfo=UTC)
    assert explain_lead(later, timedelta(minutes=5), [other]).endswith("or use a lead of at most 3m")  # type: ignore[union-attr]


def test_no_lead_explanation_when_the_broadcast_itself_overlaps_or_there_is_no_lead() -> None:
    other = InTheWay("broadcast #1", T0, T0 + timedelta(hours=1))
    assert explain_lead(T0 + timedelta(minutes=30), timedelta(minutes=5), [other]) is None
    assert explain_lead(T0 + timedelta(hours=1), timedelta(0), [other]) is None


# -- off-hours windows that overlap each other --------------------------------------------------------


def test_an_off_hours_rule_whose_windows_overlap_is_refused_with_the_reason() -> None:
    problem = overlap_problem("*/2 * * * *", "UTC", timedelta(minutes=3), T0)
    assert problem is not None
    assert "fires at 2026-12-01 01:00 UTC and again 2m later" in problem
    assert "each window lasts 3m: make the duration at most 2m" in problem


def test_overlap_found_in_a_monthly_rule_and_not_in_a_nightly_one_across_dst() -> None:
    assert overlap_problem("0 0 1 * *", "UTC", timedelta(days=29), T0) is not None  # February
    assert (
        overlap_problem("0 22 * * *", "Europe/Berlin", timedelta(hours=8), datetime(2027, 3, 20, tzinfo=UTC))
        is None
    )
    assert overlap_problem("*/2 * * * *", "UTC", timedelta(minutes=2), T0) is None  # back to back is fine

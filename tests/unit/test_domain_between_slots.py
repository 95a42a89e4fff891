"""The between-slots policy in the planner: with `disable`, a stream is disabled after each slot (after
the finish and the metadata restore) unless the next slot's enable comes within KEEP_ENABLED_GAP, or
off-hours already disable it; with `keep` (the default) nothing changes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.unit.test_domain_planner import HORIZON, NOW, STREAMS, at, brief, broadcast, by_key, night
from worker.domain.planner import PlanResult, plan
from worker.domain.specs import BroadcastSpec, OffHoursSpec
from worker.domain.stream_policy import KEEP_ENABLED_GAP, BetweenSlots, disable_after, parse_between_slots
from worker.domain.types import ActionKind, Source

E, D, F, R = ActionKind.ENABLE, ActionKind.DISABLE, ActionKind.FINISH, ActionKind.RESTORE
AFTER_3 = "b:3:disable-after:2026-11-27T19:00:00Z"


def run(
    broadcasts: Sequence[BroadcastSpec], off: Sequence[OffHoursSpec] = (), disable: Sequence[str] = ("s1",)
) -> PlanResult:
    return plan(broadcasts, off, STREAMS, NOW, HORIZON, disable_between_slots=disable)


def test_keep_is_todays_plan() -> None:
    slots = [broadcast(metadata='{"a": "b"}'), broadcast(4, at(27, 21), at(27, 22))]
    assert run(slots, disable=()).actions == plan(slots, [], STREAMS, NOW, HORIZON).actions


def test_disable_comes_after_the_finish_and_the_restore_at_the_slots_end() -> None:
    result = run([broadcast(metadata='{"a": "b"}')])
    at_end = [(a.kind, a.key) for a in result.actions if a.due_at == at(27, 19)]
    assert at_end == [
        (F, "b:3:finish:2026-11-27T19:00:00Z"),
        (R, "b:3:restore:2026-11-27T19:00:00Z"),
        (D, AFTER_3),
    ]
    disable = by_key(result)[AFTER_3]
    assert (disable.source, disable.source_id, disable.stream_id) == (Source.BROADCAST, 3, "s1")
    # Useful, like the finish, for an hour when no slot follows.
    assert disable.deadline_at == at(27, 20)
    assert disable.reason == (
        "disable after broadcast #3 'Morning show' (2026-11-27 18:00-19:00 UTC): "
        "the stream's between-slots policy"
    )


def test_only_the_streams_with_the_policy_are_disabled() -> None:
    result = run([broadcast(), broadcast(4, stream="s2")], disable=("s2",))
    disables = [(a.stream_id, a.key) for a in result.actions if a.kind is D]
    assert disables == [("s2", "b:4:disable-after:2026-11-27T19:00:00Z")]


def test_a_next_enable_within_the_gap_keeps_the_stream_on() -> None:
    # #4's slot starts 19:04 (lead 5 min): 4 min after #3 ends.
    close = broadcast(4, at(27, 19, 9), at(27, 20))
    result = run([broadcast(), close])
    assert AFTER_3 not in by_key(result)
    assert "b:4:disable-after:2026-11-27T20:00:00Z" in by_key(result)


def test_a_next_enable_exactly_the_gap_away_is_not_close_enough() -> None:
    gap_min = int(KEEP_ENABLED_GAP.total_seconds() // 60)
    later = broadcast(4, at(27, 19, 5 + gap_min), at(27, 20))  # slot starts 19:00 + gap
    disable = by_key(run([broadcast(), later]))[AFTER_3]
    # It must have run before the next slot's enable.
    assert disable.deadline_at == at(27, 19, gap_min)


def test_back_to_back_slots_are_one_stretch_disabled_once_at_its_end() -> None:
    follow_on = broadcast(4, at(27, 19, 5), at(27, 20))  # slot starts 19:00, exactly at #3's end
    result = run([broadcast(), follow_on])
    assert [(a.due_at, a.key) for a in result.actions if a.kind is D] == [
        (at(27, 20), "b:4:disable-after:2026-11-27T20:00:00Z")
    ]


def test_off_hours_already_disabling_at_the_end_leave_no_second_disable() -> None:
    # The slot ends inside the night's window (22:00-06:00): off-hours' own disable-after is enough.
    inside = broadcast(start=at(27, 23), end=at(28, 0, 30))
    at_end = [x for x in brief(run([inside], [night()]).actions) if x[0] == at(28, 0, 30)]
    assert at_end == [
        (at(28, 0, 30), F, "b:3:finish:2026-11-28T00:30:00Z"),
        (at(28, 0, 30), D, "o:2:s1:disable-after-b3:2026-11-28T00:30:00Z"),
    ]
    # Ending exactly as the window opens: the window's disable, once.
    touching = broadcast(start=at(27, 21), end=at(27, 22))
    disables = [x for x in brief(run([touching], [night()]).actions) if x[1] is D and x[0] == at(27, 22)]
    assert disables == [(at(27, 22), D, "o:2:s1:disable:2026-11-27T22:00:00Z")]


def test_off_hours_never_reopen_a_stream_disabled_between_slots() -> None:
    # Only its slots enable it: the night's end (06:00) leaves it disabled, on that stream only.
    result = plan([], [night(stream=None)], STREAMS, NOW, HORIZON, disable_between_slots=("s1",))
    assert [(a.due_at, a.kind) for a in result.actions if a.stream_id == "s1"] == [
        (at(26, 22), D),
        (at(27, 22), D),
        (at(28, 22), D),
    ]
    assert (at(28, 6), E) in [(a.due_at, a.kind) for a in result.actions if a.stream_id == "s2"]
    # A slot inside the night still enables it for its slot, and off-hours take it back at its end.
    inside = broadcast(start=at(27, 23), end=at(28, 0, 30))
    tonight = [x[1:] for x in brief(run([inside], [night()]).actions) if at(27, 20) <= x[0] <= at(28, 8)]
    assert tonight == [
        (D, "o:2:s1:disable:2026-11-27T22:00:00Z"),
        (E, "b:3:enable:2026-11-27T23:00:00Z"),
        (F, "b:3:finish:2026-11-28T00:30:00Z"),
        (D, "o:2:s1:disable-after-b3:2026-11-28T00:30:00Z"),
    ]


def test_a_slot_ending_before_its_row_existed_owes_no_disable() -> None:
    made_late = broadcast(created_at=at(27, 20, 30))
    assert AFTER_3 not in by_key(run([made_late]))


@pytest.mark.parametrize(
    ("next_start", "expected"),
    [(None, True), (at(27, 19, 4), False), (at(27, 19, 5), True), (at(27, 23), True)],
)
def test_disable_after_rule(next_start: object, expected: bool) -> None:
    assert disable_after(at(27, 19), next_start) is expected  # type: ignore[arg-type]


def test_policy_values_are_parsed_or_refused_by_name() -> None:
    assert parse_between_slots(" Disable ") is BetweenSlots.DISABLE
    assert parse_between_slots("keep") is BetweenSlots.KEEP
    with pytest.raises(ValueError, match=r"--between-slots must be keep or disable, not 'off'"):
        parse_between_slots("off")

"""Property (issue 10): planning a stretch merges off-hours windows near it only, and plans exactly what
merging the day either side of it gives: the same actions, deadlines and reasons, for rules that merge
into groups of any length (back to back without end too), with slots ending inside them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.unit.test_domain_planner import NOW, STREAMS, broadcast
from worker.domain import planner
from worker.domain.planner import plan
from worker.domain.specs import OffHoursSpec

CREATED = NOW - timedelta(days=3)
# (cron, minutes): windows apart, back to back without end (every 30 min for 30), in hours-long runs
# by day (every 20 min from 9 to 17 for 20), long nights, and pairs of rules that chain each other.
WINDOWS = [
    ("*/30 * * * *", 30),
    ("*/30 * * * *", 20),
    ("0 * * * *", 60),
    ("0 * * * *", 30),
    ("*/20 9-17 * * *", 20),
    ("15 */2 * * *", 45),
    ("*/3 * * * *", 1),
    ("0 22 * * *", 480),
    ("0 4 * * *", 120),
]
rules = st.lists(st.tuples(st.sampled_from([None, "s1"]), st.sampled_from(WINDOWS)), min_size=1, max_size=3)
# Slots around the stretch (minutes from its start), so some end inside it, and inside the groups.
slots = st.lists(st.tuples(st.integers(-240, 300), st.integers(2, 180)), max_size=6)


@settings(max_examples=60, deadline=None)
@example(rules=[("s1", ("*/30 * * * *", 30))], slots=[(7, 13)], start=0, length=60, disable_between=False)
@given(
    rules=rules,
    slots=slots,
    start=st.integers(-600, 1500),
    length=st.integers(0, 300),
    disable_between=st.booleans(),
)
def test_a_stretch_plans_what_the_day_either_side_gives(
    rules: list[tuple[str | None, tuple[str, int]]],
    slots: list[tuple[int, int]],
    start: int,
    length: int,
    disable_between: bool,
) -> None:
    stretch_start = NOW + timedelta(minutes=start)
    specs = [
        OffHoursSpec(i + 1, stream, cron, timedelta(minutes=minutes), "UTC", created_at=CREATED)
        for i, (stream, (cron, minutes)) in enumerate(rules)
    ]
    broadcasts = [
        broadcast(10 + i, stretch_start + timedelta(minutes=at), stretch_start + timedelta(minutes=at + long))
        for i, (at, long) in enumerate(slots)
    ]

    def planned() -> planner.PlanResult:
        return plan(
            broadcasts,
            specs,
            STREAMS,
            stretch_start,
            timedelta(minutes=length),
            timedelta(0),
            disable_between_slots={"s1"} if disable_between else (),
        )

    near = planned()
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(planner, "_NEAR_RANGE", timedelta(days=3))  # the near range is the whole day
        whole = planned()
    assert near == whole

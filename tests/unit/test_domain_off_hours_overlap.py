"""An off-hours rule whose windows overlap each other, written in SQL past the CLI's check, is flagged
by the planner with the CLI's own words, the same on every tick; every other row still plans."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.test_domain_planner import NOW, at, broadcast, by_key, night, run
from worker.domain.off_hours_rules import overlap_problem
from worker.domain.specs import OffHoursSpec
from worker.domain.types import Source

# Every 2 minutes for 3 minutes: each window starts before the last one ended.
EVERY_2_FOR_3 = OffHoursSpec(7, "s1", "*/2 * * * *", timedelta(minutes=3), "UTC", created_at=at(26, 9))


def test_a_rule_overlapping_itself_is_flagged_with_the_clis_words_and_the_others_plan() -> None:
    result = run([broadcast()], [EVERY_2_FOR_3, night(2, stream="s2")])
    words = overlap_problem("*/2 * * * *", "UTC", timedelta(minutes=3), at(26, 9))
    assert words is not None and words.startswith("its windows overlap: '*/2 * * * *' fires at ")
    assert words.endswith("make the duration at most 2m or fire less often")
    assert result.invalid == {(Source.OFF_HOURS, 7): words}
    assert not [a for a in result.actions if a.source is Source.OFF_HOURS and a.source_id == 7]
    keys = by_key(result)
    assert "b:3:finish:2026-11-27T19:00:00Z" in keys
    assert "o:2:s2:disable:2026-11-27T22:00:00Z" in keys


def test_the_verdict_does_not_depend_on_the_tick() -> None:
    reasons = {
        run([], [EVERY_2_FOR_3], now=NOW + timedelta(hours=h)).invalid[(Source.OFF_HOURS, 7)]
        for h in (0, 5, 50)
    }
    assert len(reasons) == 1


def test_windows_that_only_touch_are_not_an_overlap() -> None:
    assert run([], [night(5, cron="0 */2 * * *", hours=2)]).invalid == {}

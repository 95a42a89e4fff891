"""The planner: broadcast lifecycle, off-hours, their overlap, edits, invalid rows, horizon and deadlines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from worker.domain.planner import PlanResult, plan
from worker.domain.specs import BroadcastSpec, OffHoursSpec
from worker.domain.types import ActionKind, PlannedAction, Source

STREAMS = {"s1", "s2"}
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HORIZON = timedelta(days=2)
E, D, F, U = ActionKind.ENABLE, ActionKind.DISABLE, ActionKind.FINISH, ActionKind.UPDATE
R = ActionKind.RESTORE


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def broadcast(
    id: int = 3,
    start: datetime = at(27, 18),
    end: datetime = at(27, 19),
    *,
    stream: str = "s1",
    lead_min: int = 5,
    **extra: object,
) -> BroadcastSpec:
    return BroadcastSpec(id, stream, start, end, timedelta(minutes=lead_min), "Morning show", **extra)  # type: ignore[arg-type]


def night(
    id: int = 2, stream: str | None = "s1", cron: str = "0 22 * * *", hours: int = 8, **extra: object
) -> OffHoursSpec:
    return OffHoursSpec(id, stream, cron, timedelta(hours=hours), "UTC", **extra)  # type: ignore[arg-type]


def run(
    broadcasts: Sequence[BroadcastSpec] = (), off: Sequence[OffHoursSpec] = (), now: datetime = NOW
) -> PlanResult:
    return plan(broadcasts, off, STREAMS, now, HORIZON)


def brief(actions: list[PlannedAction], stream: str = "s1") -> list[tuple[datetime, ActionKind, str]]:
    return [(a.due_at, a.kind, a.key) for a in actions if a.stream_id == stream]


def by_key(result: PlanResult) -> dict[str, PlannedAction]:
    return {a.key: a for a in result.actions}


# --- broadcasts ---------------------------------------------------------------------------------


def test_broadcast_enables_before_its_start_and_finishes_at_its_end() -> None:
    result = run([broadcast()])
    assert result.invalid == {}
    enable, finish = result.actions
    assert (enable.key, enable.kind, enable.due_at, enable.deadline_at) == (
        "b:3:enable:2026-11-27T18:00:00Z",
        E,
        at(27, 17, 55),
        at(27, 19),
    )
    assert enable.reason == "enable 5 min before broadcast #3 'Morning show' (2026-11-27 18:00-19:00 UTC)"
    assert (enable.source, enable.source_id, enable.stream_id) == (Source.BROADCAST, 3, "s1")
    assert (finish.key, finish.kind, finish.due_at) == ("b:3:finish:2026-11-27T19:00:00Z", F, at(27, 19))
    # Nothing follows on s1: a finish is still useful for an hour.
    assert finish.deadline_at == at(27, 20)
    assert finish.sequence < enable.sequence


def test_metadata_and_reconnect_window_become_an_update_right_after_the_enable() -> None:
    result = run([broadcast(metadata='{"title": "Morning", "host": "Ana"}', reconnect_window=120)])
    enable, update, _finish, _restore = result.actions
    assert update.key == "b:3:update:2026-11-27T18:00:00Z"
    assert (update.kind, update.due_at, update.deadline_at) == (U, enable.due_at, at(27, 19))
    assert update.sequence > enable.sequence
    assert update.payload == {"metadata": {"title": "Morning", "host": "Ana"}, "reconnectWindow": 120}
    assert update.reason.startswith("set metadata and reconnect window 120 s for broadcast #3")


def test_metadata_as_a_mapping_is_accepted_too() -> None:
    (_, update, _, _) = run([broadcast(metadata={"a": "b"})]).actions
    assert update.payload == {"metadata": {"a": "b"}}


def test_metadata_is_put_back_at_the_end_after_the_finish() -> None:
    _, update, finish, restore = run([broadcast(metadata='{"show": "x"}')]).actions
    assert (restore.key, restore.kind, restore.due_at) == ("b:3:restore:2026-11-27T19:00:00Z", R, at(27, 19))
    # It names the update whose merge it undoes; like the finish, it is useful until the next slot.
    assert restore.payload == {"merged_by": update.key}
    assert restore.deadline_at == finish.deadline_at == at(27, 20)
    assert finish.sequence < restore.sequence
    assert restore.reason.startswith("put back the stream's metadata after broadcast #3")


def test_a_reconnect_window_alone_has_nothing_to_put_back() -> None:
    assert [a.kind for a in run([broadcast(reconnect_window=120)]).actions] == [E, U, F]


def test_restore_deadline_stops_at_the_next_slot_on_the_stream() -> None:
    later = broadcast(4, at(27, 19, 30), at(27, 20), lead_min=10)  # slot starts 19:20
    restore = by_key(run([broadcast(metadata='{"a": "b"}'), later]))["b:3:restore:2026-11-27T19:00:00Z"]
    assert restore.deadline_at == at(27, 19, 20)


def test_back_to_back_the_first_metadata_is_put_back_before_the_next_is_merged() -> None:
    first = broadcast(metadata='{"show": "one"}')
    follow_on = broadcast(4, at(27, 19, 5), at(27, 20), metadata='{"show": "two"}')  # slot starts 19:00
    at_seam = [a for a in run([first, follow_on]).actions if a.due_at == at(27, 19)]
    # No finish at the seam (the stream stays live); the restore comes before the next enable and merge.
    assert [(a.kind, a.source_id) for a in at_seam] == [(R, 3), (E, 4), (U, 4)]


def test_finish_deadline_stops_at_the_next_slot_on_the_stream() -> None:
    later = broadcast(4, at(27, 19, 30), at(27, 20), lead_min=10)  # slot starts 19:20
    finish = by_key(run([broadcast(), later]))["b:3:finish:2026-11-27T19:00:00Z"]
    assert finish.deadline_at == at(27, 19, 20)


def test_back_to_back_broadcasts_stay_live_across_the_seam() -> None:
    follow_on = broadcast(4, at(27, 19, 5), at(27, 20))  # slot starts 19:00, exactly at #3's end
    keys = [a.key for a in run([broadcast(), follow_on]).actions]
    assert "b:3:finish:2026-11-27T19:00:00Z" not in keys
    assert "b:4:finish:2026-11-27T20:00:00Z" in keys


def test_a_broadcast_inside_another_does_not_end_the_outer_one() -> None:
    inner = broadcast(4, at(27, 18, 20), at(27, 18, 40))
    keys = [a.key for a in run([broadcast(), inner]).actions]
    assert "b:4:finish:2026-11-27T18:40:00Z" not in keys
    assert "b:3:finish:2026-11-27T19:00:00Z" in keys


def test_broadcasts_on_other_streams_do_not_interact() -> None:
    other = broadcast(4, at(27, 19), at(27, 20), stream="s2", lead_min=0)
    result = run([broadcast(), other])
    assert by_key(result)["b:3:finish:2026-11-27T19:00:00Z"].deadline_at == at(27, 20)
    assert by_key(result)["b:4:enable:2026-11-27T19:00:00Z"].reason.startswith("enable at the start of")


# --- edits and cancels --------------------------------------------------------------------------


def test_moving_a_broadcast_changes_its_keys() -> None:
    before = {a.key for a in run([broadcast()]).actions}
    after = {a.key for a in run([broadcast(start=at(27, 18, 30), end=at(27, 19, 30))]).actions}
    assert before.isdisjoint(after)


def test_changing_only_metadata_keeps_keys_and_changes_payload() -> None:
    first = by_key(run([broadcast(metadata='{"a": "1"}')]))
    second = by_key(run([broadcast(metadata='{"a": "2"}')]))
    assert first.keys() == second.keys()
    key = "b:3:update:2026-11-27T18:00:00Z"
    assert (first[key].payload, second[key].payload) == ({"metadata": {"a": "1"}}, {"metadata": {"a": "2"}})


def test_changing_only_the_end_keeps_the_enable_key_with_a_new_deadline() -> None:
    first = by_key(run([broadcast()]))
    second = by_key(run([broadcast(end=at(27, 19, 30))]))
    key = "b:3:enable:2026-11-27T18:00:00Z"
    assert (first[key].deadline_at, second[key].deadline_at) == (at(27, 19), at(27, 19, 30))
    assert "b:3:finish:2026-11-27T19:30:00Z" in second


def test_a_cancelled_broadcast_plans_nothing_and_off_hours_resume_unshifted() -> None:
    booked = broadcast(start=at(27, 21), end=at(27, 23))
    assert "o:2:s1:disable:2026-11-27T22:00:00Z" not in by_key(run([booked], [night()]))
    cancelled = run([], [night()])
    assert not [a for a in cancelled.actions if a.source is Source.BROADCAST]
    assert "o:2:s1:disable:2026-11-27T22:00:00Z" in by_key(cancelled)


# --- off-hours ----------------------------------------------------------------------------------


def test_off_hours_disable_at_start_and_enable_at_end() -> None:
    result = run([], [night()])
    first_two = [a for a in result.actions if a.due_at >= NOW][:2]
    disable, enable = first_two
    assert (disable.key, disable.kind, disable.due_at, disable.deadline_at) == (
        "o:2:s1:disable:2026-11-27T22:00:00Z",
        D,
        at(27, 22),
        at(28, 6),
    )
    assert disable.reason == "off-hours #2 (0 22 * * * UTC) starts"
    assert (enable.key, enable.kind, enable.due_at) == ("o:2:s1:enable:2026-11-28T06:00:00Z", E, at(28, 6))
    # Useful until the next window starts.
    assert enable.deadline_at == at(28, 22)
    assert enable.reason == "off-hours #2 (0 22 * * * UTC) ends"


def test_off_hours_for_every_stream() -> None:
    result = run([broadcast(start=at(27, 21), end=at(27, 23))], [night(stream=None)])
    s1 = brief(result.actions, "s1")
    s2 = brief(result.actions, "s2")
    assert (at(27, 22), D, "o:2:s2:disable:2026-11-27T22:00:00Z") in s2
    # The broadcast on s1 keeps s1 on; s2 is unaffected by it.
    assert all(key != "o:2:s1:disable:2026-11-27T22:00:00Z" for _, _, key in s1)
    assert (at(27, 23), D, "o:2:s1:disable-after-b3:2026-11-27T23:00:00Z") in s1


def test_broadcast_covering_the_start_delays_the_disable_until_it_ends() -> None:
    result = run([broadcast(start=at(27, 21), end=at(27, 23))], [night()])
    tonight = [x for x in brief(result.actions) if at(27, 20) <= x[0] <= at(28, 6)]
    assert tonight == [
        (at(27, 20, 55), E, "b:3:enable:2026-11-27T21:00:00Z"),
        (at(27, 23), F, "b:3:finish:2026-11-27T23:00:00Z"),
        (at(27, 23), D, "o:2:s1:disable-after-b3:2026-11-27T23:00:00Z"),
        (at(28, 6), E, "o:2:s1:enable:2026-11-28T06:00:00Z"),
    ]
    disable = by_key(result)["o:2:s1:disable-after-b3:2026-11-27T23:00:00Z"]
    assert disable.deadline_at == at(28, 6)
    assert disable.reason == "disable after broadcast #3 ends inside off-hours #2"
    assert disable.source is Source.OFF_HOURS


def test_lead_time_counts_as_covering_the_start() -> None:
    # The slot starts 21:50 (10 min lead) although the broadcast starts at 22:00.
    result = run([broadcast(start=at(27, 22), end=at(27, 23), lead_min=10)], [night()])
    assert "o:2:s1:disable:2026-11-27T22:00:00Z" not in by_key(result)


def test_broadcast_ending_inside_off_hours_re_enables_then_off_hours_resume() -> None:
    result = run([broadcast(start=at(27, 23), end=at(28, 0, 30))], [night()])
    tonight = [x for x in brief(result.actions) if at(27, 20) <= x[0] <= at(28, 6)]
    assert tonight == [
        (at(27, 22), D, "o:2:s1:disable:2026-11-27T22:00:00Z"),
        (at(27, 22, 55), E, "b:3:enable:2026-11-27T23:00:00Z"),
        (at(28, 0, 30), F, "b:3:finish:2026-11-28T00:30:00Z"),
        (at(28, 0, 30), D, "o:2:s1:disable-after-b3:2026-11-28T00:30:00Z"),
        (at(28, 6), E, "o:2:s1:enable:2026-11-28T06:00:00Z"),
    ]


def test_broadcast_spanning_the_whole_window_keeps_the_stream_on() -> None:
    result = run([broadcast(start=at(27, 21), end=at(28, 7))], [night()])
    tonight = [x for x in brief(result.actions) if at(27, 20) <= x[0] <= at(28, 8)]
    # No disable at all; the off-hours enable at 06:00 is still planned and is a harmless no-op.
    assert [k for _, k, _ in tonight] == [E, E, F]
    assert tonight[1] == (at(28, 6), E, "o:2:s1:enable:2026-11-28T06:00:00Z")


def test_overlapping_off_hours_windows_merge() -> None:
    early = night(5, cron="0 4 * * *", hours=4)  # 04:00-08:00 overlaps 22:00-06:00
    result = run([], [night(), early])
    tonight = [x for x in brief(result.actions) if at(27, 20) <= x[0] <= at(28, 12)]
    assert tonight == [
        (at(27, 22), D, "o:2:s1:disable:2026-11-27T22:00:00Z"),
        (at(28, 8), E, "o:5:s1:enable:2026-11-28T08:00:00Z"),
    ]
    assert by_key(result)["o:2:s1:disable:2026-11-27T22:00:00Z"].reason == (
        "off-hours #2 (0 22 * * * UTC) (merged with #5) starts"
    )


def test_touching_off_hours_windows_merge_without_an_enable_in_between() -> None:
    morning = night(5, cron="0 6 * * *", hours=2)  # 06:00-08:00 touches 22:00-06:00
    tonight = [x for x in brief(run([], [night(), morning]).actions) if at(27, 20) <= x[0] <= at(28, 12)]
    assert [(t, k) for t, k, _ in tonight] == [(at(27, 22), D), (at(28, 8), E)]


def test_stream_specific_and_all_streams_windows_merge_on_the_stream() -> None:
    everyone = night(7, stream=None, cron="0 23 * * *", hours=8)  # 23:00-07:00
    result = run([], [night(), everyone])
    s1 = [x for x in brief(result.actions, "s1") if at(27, 20) <= x[0] <= at(28, 12)]
    s2 = [x for x in brief(result.actions, "s2") if at(27, 20) <= x[0] <= at(28, 12)]
    assert [(t, k) for t, k, _ in s1] == [(at(27, 22), D), (at(28, 7), E)]
    assert [(t, k) for t, k, _ in s2] == [(at(27, 23), D), (at(28, 7), E)]


def test_off_hours_window_is_measured_in_real_hours_across_dst() -> None:
    # 22:00 Berlin on the night clocks go forward (CET) plus 8 real hours is 07:00 CEST.
    spring = OffHoursSpec(2, "s1", "0 22 * * *", timedelta(hours=8), "Europe/Berlin")
    keys = by_key(plan([], [spring], STREAMS, datetime(2026, 3, 28, 12, tzinfo=UTC), HORIZON))
    assert keys["o:2:s1:disable:2026-03-28T21:00:00Z"].deadline_at == datetime(2026, 3, 29, 5, tzinfo=UTC)
    assert "o:2:s1:enable:2026-03-29T05:00:00Z" in keys
    # New York, clocks go back: 22:00 EDT (02:00 UTC) plus 8 real hours is 05:00 EST.
    autumn = OffHoursSpec(2, "s1", "0 22 * * *", timedelta(hours=8), "America/New_York")
    keys = by_key(plan([], [autumn], STREAMS, datetime(2026, 10, 31, 12, tzinfo=UTC), HORIZON))
    assert "o:2:s1:disable:2026-11-01T02:00:00Z" in keys
    assert "o:2:s1:enable:2026-11-01T10:00:00Z" in keys
    # The next window starts at 22:00 EST = 03:00 UTC: that bounds the enable.
    assert keys["o:2:s1:enable:2026-11-01T10:00:00Z"].deadline_at == datetime(2026, 11, 2, 3, tzinfo=UTC)


# --- invalid rows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            broadcast(9, stream="ghost"),
            "stream 'ghost' is not known to onair (run `onair streams list` / sync)",
        ),
        (broadcast(9, metadata="{oops"), "metadata is not valid JSON"),
        (broadcast(9, metadata='["a"]'), "metadata must be a JSON object, got list"),
        (
            broadcast(9, metadata={f"k{i}": "v" for i in range(11)}),
            "metadata has 11 keys; FastPix allows at most 10",
        ),
        (broadcast(9, metadata={"k": "x" * 256}), "metadata value for 'k' has 256 characters"),
        (broadcast(9, metadata={"k": 5}), "metadata value for 'k' must be a string, got int"),
        (broadcast(9, reconnect_window=30), "reconnect window 30 s is outside 60..1800 s"),
        (broadcast(9, reconnect_window=1801), "reconnect window 1801 s is outside 60..1800 s"),
        (broadcast(9, start=at(27, 19), end=at(27, 19)), "is not after start"),
        (broadcast(9, lead_min=-1), "lead -60 s is negative"),
        (broadcast(9, start=datetime(2026, 11, 27, 18)), "starts_at 2026-11-27T18:00:00 has no time zone"),
    ],
)
def test_invalid_broadcast_is_flagged_and_others_still_plan(bad: BroadcastSpec, reason: str) -> None:
    result = run([bad, broadcast()])
    assert reason in result.invalid[(Source.BROADCAST, 9)]
    assert {a.source_id for a in result.actions} == {3}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (night(9, cron="61 * * * *"), "bad cron expression '61 * * * *': "),
        (replace(night(9), timezone="Mars/Base"), "unknown time zone 'Mars/Base'"),
        (night(9, stream="ghost"), "stream 'ghost' is not known to onair"),
        (night(9, hours=0), "duration 0 s is not positive"),
    ],
)
def test_invalid_off_hours_is_flagged_and_others_still_plan(bad: OffHoursSpec, reason: str) -> None:
    result = run([broadcast()], [bad, night()])
    assert reason in result.invalid[(Source.OFF_HOURS, 9)]
    assert {a.source_id for a in result.actions if a.source is Source.OFF_HOURS} == {2}
    assert any(a.source is Source.BROADCAST for a in result.actions)


def test_all_reasons_of_a_row_are_reported_together() -> None:
    reason = run([broadcast(9, stream="ghost", reconnect_window=5)]).invalid[(Source.BROADCAST, 9)]
    assert "stream 'ghost'" in reason and "reconnect window 5 s" in reason


# --- horizon, lookback, stability ---------------------------------------------------------------


def test_only_actions_due_inside_lookback_and_horizon_are_planned() -> None:
    far = broadcast(4, at(30, 18), at(30, 19))
    result = run([far, broadcast()])
    assert {a.source_id for a in result.actions} == {3}
    assert (result.window_start, result.window_end) == (NOW - timedelta(hours=24), NOW + HORIZON)


def test_after_downtime_a_due_enable_is_planned_late_and_an_old_one_is_not() -> None:
    running = broadcast(4, at(27, 10), at(27, 14))  # enable was due 09:55, still useful until 14:00
    result = run([running, broadcast(5, at(25, 10), at(25, 11), stream="s2")])
    assert "b:4:enable:2026-11-27T10:00:00Z" in by_key(result)
    assert all(a.source_id != 5 for a in result.actions)


def test_actions_that_expired_before_the_row_existed_are_not_owed() -> None:
    # Entered at 11:00 for a window 22:00-06:00: last night's window closed before the rule existed,
    # so neither its disable nor its closing enable is owed (enabling a stream an operator left
    # disabled, for a window that never applied, would be a surprise); tonight's window is.
    keys = by_key(run([], [night(created_at=at(27, 11))]))
    assert "o:2:s1:disable:2026-11-26T22:00:00Z" not in keys
    assert "o:2:s1:enable:2026-11-27T06:00:00Z" not in keys
    assert "o:2:s1:disable:2026-11-27T22:00:00Z" in keys
    # A broadcast entered after its start still gets its enable: it is useful until its end.
    late = broadcast(4, at(27, 11), at(27, 13), created_at=at(27, 11, 30))
    assert "b:4:enable:2026-11-27T11:00:00Z" in by_key(run([late]))


def _overlap(first: PlanResult, second: PlanResult) -> tuple[list[PlannedAction], list[PlannedAction]]:
    start, end = second.window_start, first.window_end
    return (
        [a for a in first.actions if start <= a.due_at <= end],
        [a for a in second.actions if a.due_at <= end],
    )


@pytest.mark.parametrize("hours_later", [1, 5, 13, 30])
def test_plans_are_identical_across_ticks(hours_later: int) -> None:
    schedules = (
        [broadcast(start=at(28, 21), end=at(28, 23)), broadcast(4, at(28, 23, 30), at(29, 1))],
        [night(), night(5, stream=None, cron="0 4 * * *", hours=3)],
    )
    earlier, later = _overlap(run(*schedules), run(*schedules, now=NOW + timedelta(hours=hours_later)))
    assert earlier == later


@pytest.mark.parametrize("hours_later", [1, 5, 13, 30])
def test_keys_are_stable_across_ticks_even_when_windows_chain_without_end(hours_later: int) -> None:
    schedules = (
        [broadcast(start=at(28, 21), end=at(28, 23))],
        [night(5, stream=None, cron="0 */2 * * *", hours=2)],  # always off: each window touches the next
    )
    earlier, later = _overlap(run(*schedules), run(*schedules, now=NOW + timedelta(hours=hours_later)))
    assert [(a.key, a.due_at) for a in earlier] == [(a.key, a.due_at) for a in later]
    assert "o:5:s1:disable-after-b3:2026-11-28T23:00:00Z" in {a.key for a in earlier}


def test_same_instant_actions_on_a_stream_are_ordered_by_sequence() -> None:
    result = run([broadcast(start=at(27, 23), end=at(28, 0, 30), metadata='{"a": "b"}')], [night()])
    at_end = [a for a in result.actions if a.due_at == at(28, 0, 30)]
    # The metadata goes back after the finish and before the disable: FastPix refuses PATCH once disabled.
    assert [a.kind for a in at_end] == [F, R, D]
    assert at_end[0].sequence < at_end[1].sequence < at_end[2].sequence


def test_negative_horizon_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        plan([], [], STREAMS, NOW, timedelta(hours=-1))


def test_specs_read_rows_as_stored() -> None:
    from types import SimpleNamespace

    row = SimpleNamespace(
        id=7,
        stream_id="s1",
        starts_at=at(27, 18),
        ends_at=at(27, 19),
        lead_seconds=300,
        title="Show",
        metadata_json='{"a": "b"}',
        reconnect_window=None,
        created_at=at(26, 9),
        organiser_name="Jazz Club",
        cancelled_at=None,
    )
    spec = BroadcastSpec.from_row(row)
    assert (spec.lead, spec.metadata, spec.slot_start) == (timedelta(minutes=5), '{"a": "b"}', at(27, 17, 55))
    assert spec.organiser == "Jazz Club"
    rule = SimpleNamespace(
        id=2,
        stream_id=None,
        cron="0 22 * * *",
        duration_seconds=28800,
        timezone="UTC",
        label="Night",
        created_at=None,
    )
    off = OffHoursSpec.from_row(rule)
    assert (off.duration, off.describe()) == (timedelta(hours=8), "off-hours #2 'Night' (0 22 * * * UTC)")

"""Cancelling a slot, as the planner sees it: before its slot begins it plans nothing (the ledger
cancels its actions); while it runs it ends at the cancel instant (finish, metadata restore and the
disables an end calls for, planned then, under stable keys); after its end nothing changes."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.test_domain_planner import HORIZON, NOW, STREAMS, at, broadcast, by_key, night, run
from worker.domain.cut_short import Phase, as_planned, phase_at
from worker.domain.planner import plan
from worker.domain.types import ActionKind, Source

E, D, F, U, R = (
    ActionKind.ENABLE,
    ActionKind.DISABLE,
    ActionKind.FINISH,
    ActionKind.UPDATE,
    ActionKind.RESTORE,
)
CANCEL = at(27, 18, 20)  # the show runs 18:00-19:00, its slot from 17:55
SHOW = '{"show": "x"}'


def test_the_phase_of_a_slot_counts_the_lead_and_ends_at_the_end() -> None:
    assert phase_at(at(27, 17, 55), at(27, 17, 55), at(27, 19)) is Phase.NOT_BEGUN
    assert phase_at(at(27, 17, 56), at(27, 17, 55), at(27, 19)) is Phase.RUNNING
    assert phase_at(at(27, 19), at(27, 17, 55), at(27, 19)) is Phase.ENDED


def test_cancelled_while_live_it_finishes_and_restores_at_the_cancel_instant() -> None:
    result = run([broadcast(metadata=SHOW, cancelled_at=CANCEL)], now=at(27, 18, 20))
    assert [(a.kind, a.due_at, a.key) for a in result.actions] == [
        (E, at(27, 17, 55), "b:3:enable:2026-11-27T18:00:00Z"),
        (U, at(27, 17, 55), "b:3:update:2026-11-27T18:00:00Z"),
        (F, CANCEL, "b:3:finish:2026-11-27T18:20:00Z"),
        (R, CANCEL, "b:3:restore:2026-11-27T18:20:00Z"),
    ]
    finish = by_key(result)["b:3:finish:2026-11-27T18:20:00Z"]
    assert finish.reason.endswith("cancelled while live, finished early")
    assert "cancelled at 18:20:00" in finish.reason
    # Its deadlines are those of any end: the finish is still useful until the next slot, or an hour.
    assert finish.deadline_at > CANCEL


def test_the_early_end_is_planned_once_whatever_the_tick() -> None:
    row = broadcast(metadata=SHOW, cancelled_at=CANCEL)
    keys = [
        {a.key for a in plan([row], [], STREAMS, now, HORIZON).actions if a.due_at == CANCEL}
        for now in (CANCEL, CANCEL + timedelta(seconds=1), CANCEL + timedelta(minutes=30))
    ]
    assert (
        keys[0]
        == keys[1]
        == keys[2]
        == {
            "b:3:finish:2026-11-27T18:20:00Z",
            "b:3:restore:2026-11-27T18:20:00Z",
        }
    )


def test_cancelled_during_its_lead_it_ends_before_its_start_and_puts_the_metadata_back() -> None:
    cancel = at(27, 17, 58)
    result = run([broadcast(metadata=SHOW, cancelled_at=cancel)], now=cancel)
    assert result.invalid == {}
    assert [(a.kind, a.due_at) for a in result.actions] == [
        (E, at(27, 17, 55)),
        (U, at(27, 17, 55)),
        (F, cancel),
        (R, cancel),
    ]


def test_cancelled_before_its_slot_nothing_is_planned() -> None:
    assert run([broadcast(cancelled_at=at(27, 17, 55))]).actions == []
    assert as_planned(broadcast(cancelled_at=at(27, 12))) is None


def test_cancelled_after_its_end_nothing_changes() -> None:
    late = broadcast(metadata=SHOW, cancelled_at=at(27, 19, 30))
    assert as_planned(late) == late
    assert [a.key for a in run([late]).actions] == [a.key for a in run([broadcast(metadata=SHOW)]).actions]


def test_an_early_end_inside_off_hours_disables_the_stream_then() -> None:
    # Off-hours 18:30-20:00; the booking covered their start, so they disabled it only at its end.
    off = night(cron="30 18 * * *", hours=1)
    booked = broadcast(end=at(27, 19, 30))
    assert "o:2:s1:disable:2026-11-27T18:30:00Z" not in by_key(run([booked], [off]))
    cut = by_key(run([broadcast(end=at(27, 19, 30), cancelled_at=CANCEL)], [off]))
    assert "o:2:s1:disable-after-b3:2026-11-27T19:30:00Z" not in cut
    assert cut["o:2:s1:disable:2026-11-27T18:30:00Z"].kind is D  # off-hours start as planned again
    cut_inside = by_key(run([broadcast(end=at(27, 19, 30), cancelled_at=at(27, 18, 45))], [off]))
    assert cut_inside["o:2:s1:disable-after-b3:2026-11-27T18:45:00Z"].kind is D


def test_with_the_disable_policy_the_stream_is_disabled_after_the_early_end() -> None:
    row = broadcast(metadata=SHOW, cancelled_at=CANCEL)
    result = plan([row], [], STREAMS, NOW, HORIZON, disable_between_slots=("s1",))
    at_cancel = [(a.kind, a.key) for a in result.actions if a.due_at == CANCEL]
    assert at_cancel == [
        (F, "b:3:finish:2026-11-27T18:20:00Z"),
        (R, "b:3:restore:2026-11-27T18:20:00Z"),
        (D, "b:3:disable-after:2026-11-27T18:20:00Z"),
    ]
    assert all(a.source is Source.BROADCAST for a in result.actions)

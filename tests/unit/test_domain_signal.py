"""Broadcast health from the stream's reported statuses, and the outcomes it gives a broadcast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.domain.outcomes import Act, BroadcastFacts, Outcome, broadcast_outcome
from worker.domain.signal import Change, Report, signal_health
from worker.domain.types import ActionKind, ActionState

START = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
GRACE = timedelta(seconds=60)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def changes(reports: list[Report], now: datetime) -> list[tuple[Change, datetime]]:
    return [(e.change, e.at) for e in signal_health(reports, START, END, GRACE, now).events]


def test_no_signal_once_the_grace_has_passed_and_not_before() -> None:
    idle = [Report(at(-5), "idle")]
    assert changes(idle, at(0.9)) == []
    assert changes(idle, at(1.1)) == [(Change.NO_SIGNAL, at(1))]
    # The encoder comes late: recovered, once.
    late = [*idle, Report(at(3), "preparing"), Report(at(3.1), "active")]
    assert changes(late, at(10)) == [(Change.NO_SIGNAL, at(1)), (Change.RECOVERED, at(3.1))]


def test_live_within_the_grace_raises_nothing_and_counts_live_minutes() -> None:
    reports = [Report(at(-5), "idle"), Report(at(0.5), "active")]
    health = signal_health(reports, START, END, GRACE, at(30.5))
    assert health.events == [] and health.active_now
    assert health.live_seconds == 30 * 60


def test_a_drop_mid_slot_is_lost_then_recovered_each_once() -> None:
    reports = [
        Report(at(-1), "active"),  # connected during the lead
        Report(at(10), "idle"),
        Report(at(12), "active"),
        Report(at(20), "idle"),
    ]
    assert changes(reports, at(30)) == [
        (Change.LOST, at(10)),
        (Change.RECOVERED, at(12)),
        (Change.LOST, at(20)),
    ]
    assert signal_health(reports, START, END, GRACE, at(30)).live_seconds == 18 * 60


def test_a_status_change_before_the_slot_is_not_a_loss_nor_is_the_finish_at_the_end() -> None:
    reports = [
        Report(at(-30), "active"),
        Report(at(-20), "idle"),
        Report(at(0.2), "active"),
        Report(END, "idle"),
    ]
    assert changes(reports, END + timedelta(minutes=5)) == []
    near_end = [Report(at(0.2), "active"), Report(END - timedelta(seconds=2), "idle")]
    assert changes(near_end, END) == []


def polled(minutes: float, status: str) -> Report:
    return Report(at(minutes), status, polled=True)


def test_a_first_poll_after_the_grace_that_finds_it_live_is_no_alert() -> None:
    # Without webhooks onair reads the stream once the grace has passed; a live answer is a slot that
    # had its signal, not a no signal recovered at once (the soak's healthy slots raised both).
    health = signal_health([polled(1.05, "active")], START, END, GRACE, at(1.1))
    assert health.events == [] and health.active_now and health.ever_active
    assert changes([polled(1.05, "idle")], at(1.1)) == [(Change.NO_SIGNAL, at(1))]
    # Found live at the first look, dark at the next: lost, told at the poll that saw it.
    assert changes([polled(1.05, "active"), polled(2.05, "idle")], at(2.1)) == [(Change.LOST, at(2.05))]


def test_a_poll_from_before_the_slot_says_nothing_of_it() -> None:
    # The previous slot's poll found the stream live; onair finished that slot since. This slot's
    # first poll finds it idle: no signal, not a signal lost.
    reports = [polled(-3, "active"), polled(1.05, "idle")]
    assert changes(reports, at(1.1)) == [(Change.NO_SIGNAL, at(1))]
    # A webhook before the slot still tells how it began.
    assert changes([Report(at(-1), "active"), polled(1.05, "idle")], at(1.1)) == [(Change.LOST, at(1.05))]


def _facts(reports: list[Report] | None) -> BroadcastFacts:
    enable = Act(ActionKind.ENABLE, ActionState.SUCCEEDED, at(-5))
    return BroadcastFacts(START, END, False, [enable], signal=reports, grace=GRACE)


def test_outcomes_with_a_signal() -> None:
    idle = [Report(at(-5), "idle")]
    assert broadcast_outcome(_facts(idle), at(0.5)).outcome is Outcome.ENABLED
    assert broadcast_outcome(_facts(idle), at(2)).outcome is Outcome.NO_SIGNAL
    assert broadcast_outcome(_facts(idle), END).text == "no signal, live 0 min"
    live = [*idle, Report(at(0.5), "active")]
    assert broadcast_outcome(_facts(live), at(5)).outcome is Outcome.LIVE
    done = broadcast_outcome(_facts([*live, Report(END, "idle")]), END + timedelta(minutes=1))
    assert done.outcome is Outcome.FINISHED and done.live_minutes == 59.5
    dropped = [*live, Report(at(10), "idle")]
    assert broadcast_outcome(_facts(dropped), at(11)).outcome is Outcome.INTERRUPTED
    back = [*dropped, Report(at(12), "active")]
    assert broadcast_outcome(_facts(back), at(13)).outcome is Outcome.LIVE
    over = broadcast_outcome(_facts(back), END)
    assert over.outcome is Outcome.INTERRUPTED and over.live_minutes == 57.5


def test_without_a_signal_the_ledger_decides_as_before() -> None:
    verdict = broadcast_outcome(_facts(None), at(5))
    assert verdict.outcome is Outcome.LIVE and verdict.live_minutes is None and verdict.text == "live"

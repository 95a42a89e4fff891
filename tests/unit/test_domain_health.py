"""Pure rules behind what operators read: a failure's cause, a broadcast's outcome, the daily report's
due instant, and the ONAIR_REPORT_AT setting."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from worker.config import OnairSettings
from worker.domain.causes import FailureCause, describe_failure
from worker.domain.daily import report_due
from worker.domain.outcomes import Act, BroadcastFacts, Outcome, broadcast_outcome
from worker.domain.types import ActionKind, ActionState
from worker.fastpix.errors import CallTimeout, ServerError
from worker.service.failures import PERMANENT_RULE, cause_of

STREAM = "0123456789abcdef0123456789abcdef"
START = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
BERLIN = ZoneInfo("Europe/Berlin")


def test_a_given_up_500_reads_cause_then_rule() -> None:
    exc = ServerError("PUT", f"/live/streams/{STREAM}/live-enable", 500, "internal error")
    cause = cause_of(exc, 7, "the next attempt would be at or past the deadline")
    assert cause.summary == (
        'FastPix 500 "internal error" on PUT live-enable, 7 attempts; '
        "the next attempt would be at or past the deadline"
    )
    assert FailureCause.from_json(cause.to_json()) == cause
    assert describe_failure("failed", cause.summary, str(exc)) == cause.summary


def test_a_call_without_an_answer_names_what_went_wrong_on_the_wire() -> None:
    exc = CallTimeout("GET", f"/live/streams/{STREAM}", "read timeout after 15 s")
    cause = cause_of(exc, 1, PERMANENT_RULE)
    assert cause.text == 'FastPix call "timeout: read timeout after 15 s" on GET stream, 1 attempt'


def test_a_missed_action_that_had_failed_attempts_shows_its_last_error_first() -> None:
    assert describe_failure("missed", "deadline passed", "FastPix 503 on PUT x") == (
        "FastPix 503 on PUT x; deadline passed"
    )
    assert describe_failure("missed", "deadline passed", None) == "deadline passed"
    assert FailureCause.from_json("not json") is None


def facts(*acts: Act, cancelled: bool = False) -> BroadcastFacts:
    return BroadcastFacts(START, END, cancelled, list(acts))


def act(kind: ActionKind, state: ActionState, why: str | None = None) -> Act:
    return Act(kind, state, START, why)


@pytest.mark.parametrize(
    ("acts", "now", "expected"),
    [
        ((act(ActionKind.ENABLE, ActionState.PENDING),), START - timedelta(minutes=10), "scheduled"),
        ((act(ActionKind.ENABLE, ActionState.SUCCEEDED),), START - timedelta(minutes=1), "enabled"),
        ((act(ActionKind.ENABLE, ActionState.SUCCEEDED),), START + timedelta(minutes=1), "live"),
        (
            (act(ActionKind.ENABLE, ActionState.SUCCEEDED), act(ActionKind.FINISH, ActionState.SUCCEEDED)),
            END + timedelta(seconds=1),
            "finished",
        ),
        (
            (act(ActionKind.ENABLE, ActionState.FAILED, 'FastPix 500 "x" on PUT live-enable, 7 attempts'),),
            START,
            'failed (enable: FastPix 500 "x" on PUT live-enable, 7 attempts)',
        ),
        (
            (act(ActionKind.ENABLE, ActionState.MISSED, "deadline passed"),),
            END,
            "missed (enable: deadline passed)",
        ),
        (
            (act(ActionKind.ENABLE, ActionState.CANCELLED),),
            END + timedelta(hours=1),
            "missed (never enabled)",
        ),
        # The disable after the slot (between-slots policy) is the stream's, not the show's: its failure
        # has its own alert, and the show still finished.
        (
            (
                act(ActionKind.ENABLE, ActionState.SUCCEEDED),
                act(ActionKind.FINISH, ActionState.SUCCEEDED),
                act(ActionKind.DISABLE, ActionState.FAILED, "FastPix 500"),
            ),
            END + timedelta(minutes=5),
            "finished",
        ),
    ],
)
def test_a_broadcast_outcome_follows_its_actions(acts: tuple[Act, ...], now: datetime, expected: str) -> None:
    assert broadcast_outcome(facts(*acts), now).text == expected


def test_a_cancelled_broadcast_is_cancelled_whatever_its_actions_did() -> None:
    verdict = broadcast_outcome(facts(act(ActionKind.ENABLE, ActionState.SUCCEEDED), cancelled=True), START)
    assert verdict.outcome is Outcome.CANCELLED


def test_the_daily_report_is_due_from_its_local_hour_for_twelve_hours() -> None:
    seven = time(7, 0)
    before = datetime(2026, 11, 30, 5, 59, tzinfo=UTC)  # 06:59 in Berlin (UTC+1)
    assert report_due(seven, BERLIN, before) is None
    at = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert report_due(seven, BERLIN, at) == (at.date(), at)
    assert report_due(seven, BERLIN, at + timedelta(hours=11, minutes=59)) == (at.date(), at)
    assert report_due(seven, BERLIN, at + timedelta(hours=12)) is None
    summer = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # 07:00 in Berlin (UTC+2)
    assert report_due(seven, BERLIN, summer) == (summer.date(), summer)


def test_report_at_parses_or_names_the_setting() -> None:
    assert OnairSettings(report_at="07:00 Europe/Berlin").report_schedule() == (time(7, 0), BERLIN)
    assert OnairSettings(report_at="").report_schedule() is None
    for bad in ("7am Europe/Berlin", "07:00 Europe", "07:00 Moon/Base", "25:00 UTC"):
        with pytest.raises(ValidationError, match="ONAIR_REPORT_AT must be 'HH:MM Zone/Name'"):
            OnairSettings(report_at=bad)

"""Alerts against a real webhook endpoint and a real PostgreSQL: posted once however many processes
notice, retried when the endpoint fails, never carrying a secret; the watchdog reports a stalled
scheduler once per stall."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from tests.harness import migrate
from tests.integration.webhook_receiver import Receiver
from worker.clock import FixedClock
from worker.config import FastPixSettings, OnairSettings
from worker.domain.types import ActionKind, ActionState
from worker.service import alerts
from worker.service.runtime import Runtime
from worker.service.watchdog import Watchdog
from worker.store import alert_outbox, schedules
from worker.store.db import transaction

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


_built: list[Runtime] = []


@pytest.fixture(autouse=True)
def _dispose_engines(postgres_url: str) -> Iterator[None]:
    # Depends on postgres_url so the engines close before the test's database is dropped.
    yield
    while _built:
        _built.pop().engine.dispose()


def make_runtime(database_url: str, webhook: str, clock: FixedClock | None = None) -> Runtime:
    migrate(database_url)
    rt = Runtime(
        settings=OnairSettings(database_url=database_url, alert_webhook_url=webhook),
        fastpix=FastPixSettings(
            access_token_id=SecretStr("tok-id-123456"), secret_key=SecretStr("very-secret-key")
        ),
        clock=clock or FixedClock(NOW),
    )
    _built.append(rt)
    return rt


def test_failed_action_is_posted_once_with_text_and_fields(
    postgres_url: str, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    rt = make_runtime(postgres_url, receiver.url)
    first = alerts.alert_action(
        rt, 12, "s1", ActionKind.ENABLE, ActionState.FAILED, "FastPix 404: stream not found"
    )
    # A second worker (or a second code path) noticing the same failure.
    again = alerts.alert_action(
        rt, 12, "s1", ActionKind.ENABLE, ActionState.FAILED, "FastPix 404: stream not found"
    )
    assert sender.flush(10)

    assert (first, again) == (True, False)
    [posted] = receiver.delivered()
    assert posted["text"] == "onair: enable of stream s1 failed (action #12): FastPix 404: stream not found"
    assert posted["event"] == "action_failed"
    assert (posted["action_id"], posted["stream_id"], posted["kind"], posted["state"]) == (
        12,
        "s1",
        "enable",
        "failed",
    )
    record = alert_outbox.read(rt.engine, "action:12:failed")
    assert record is not None and (record.status, record.attempts) == ("sent", 1)


def test_missed_and_failed_of_one_action_are_two_alerts(
    postgres_url: str, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    rt = make_runtime(postgres_url, receiver.url)
    alerts.alert_action(rt, 7, "s1", ActionKind.DISABLE, ActionState.MISSED, "deadline passed")
    alerts.alert_action(rt, 8, "s1", ActionKind.DISABLE, ActionState.MISSED, "deadline passed")
    assert sender.flush(10)
    assert sorted(p["action_id"] for p in receiver.of_event("action_missed")) == [7, 8]


def test_a_failing_webhook_is_retried_until_it_answers(
    postgres_url: str, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    rt = make_runtime(postgres_url, receiver.url)
    receiver.fail_next = 2
    alerts.alert_action(rt, 3, "s1", ActionKind.FINISH, ActionState.FAILED, "FastPix 500")
    assert sender.flush(10)

    assert [p["_answered"] for p in receiver.posts] == [500, 500, 200]
    record = alert_outbox.read(rt.engine, "action:3:failed")
    assert record is not None and (record.status, record.attempts) == ("sent", 3)


def test_an_unreachable_webhook_is_given_up_after_the_bounded_attempts(
    postgres_url: str, sender: alerts.AlertSender
) -> None:
    rt = make_runtime(postgres_url, "http://127.0.0.1:9/closed")
    alerts.alert_action(rt, 4, "s1", ActionKind.ENABLE, ActionState.FAILED, "FastPix 401")
    assert sender.flush(30)
    record = alert_outbox.read(rt.engine, "action:4:failed")
    assert record is not None and (record.status, record.attempts) == ("failed", 3)


def test_alerts_never_carry_credentials_or_stream_keys(
    postgres_url: str, receiver: Receiver, sender: alerts.AlertSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTPIX_SECRET_KEY", "very-secret-key")
    from worker.config import fastpix_settings

    fastpix_settings.cache_clear()
    stream_key = "a" * 32 + "k" + "b" * 32
    rt = make_runtime(postgres_url, receiver.url)
    alerts.alert_action(
        rt, 5, "s1", ActionKind.ENABLE, ActionState.FAILED, f"echoed very-secret-key and {stream_key}"
    )
    assert sender.flush(10)
    fastpix_settings.cache_clear()
    [posted] = receiver.delivered()
    text = json.dumps(posted)
    assert "very-secret-key" not in text and stream_key not in text
    assert "[redacted]" in posted["text"]


def test_without_a_webhook_the_alert_is_only_logged_and_recorded(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime(postgres_url, "")
    with caplog.at_level("ERROR", logger="onair.alerts"):
        alerts.alert_action(rt, 9, "s9", ActionKind.ENABLE, ActionState.MISSED, "deadline passed")
    assert "enable of stream s9 missed (action #9)" in caplog.text
    record = alert_outbox.read(rt.engine, "action:9:missed")
    assert record is not None and record.status == "logged"


def test_a_stalled_scheduler_is_alerted_once_however_many_workers_watch(
    postgres_url: str, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    clock = FixedClock(NOW)
    rt = make_runtime(postgres_url, receiver.url, clock)
    ops = OnairSettings(stall_seconds=30, heartbeat_seconds=1)
    with transaction(rt.engine) as session:
        schedules.set_state(
            session, "last_tick_at", (NOW - timedelta(seconds=5)).isoformat(), now=NOW - timedelta(seconds=5)
        )
    one, two = Watchdog(rt, "onair@a", ops), Watchdog(rt, "onair@b", ops)
    assert one.check_once() is None  # ticked 5 s ago: fine

    clock.advance(60)  # beat died: no tick for 65 s
    raised = [one.check_once(), two.check_once(), one.check_once()]
    assert sender.flush(10)

    assert raised[0] is not None and raised[1:] == [None, None]
    [posted] = receiver.of_event("scheduler_stalled")
    assert posted["text"] == "onair: the scheduler has not ticked for 65 s (limit 30 s): is beat running?"
    assert posted["tick_age_seconds"] == 65.0 and posted["noticed_by"] == "onair@a"


def test_an_alert_left_pending_by_a_dead_process_is_sent_again(
    postgres_url: str, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    rt = make_runtime(postgres_url, receiver.url)
    body = alerts.Alert("action:21:failed", "action_failed", "onair: lost alert").body(NOW)
    alert_outbox.insert_once(rt.engine, "action:21:failed", body, "pending", NOW - timedelta(minutes=5))

    assert alerts.resend_abandoned(rt.engine, receiver.url, NOW) == 1
    assert alerts.resend_abandoned(rt.engine, receiver.url, NOW) == 0  # taken once
    assert sender.flush(10)
    assert [p["text"] for p in receiver.delivered()] == ["onair: lost alert"]

"""Alerts: a failed or missed action, or a scheduler that stopped ticking.

Each alert is logged, recorded once in the database (worker.store.alert_outbox: the same alert
noticed by two workers is sent once) and, when ONAIR_ALERT_WEBHOOK_URL is set, posted as JSON with a
Slack-compatible `text` field plus structured fields. Posting happens on a background thread with
bounded retries and back-off, so the executor never waits on a slow webhook, and it needs no broker:
an alert about a dead Redis still goes out. The payload is documented in docs/operations.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import Engine

from worker.config import onair_settings
from worker.domain.causes import FailureCause
from worker.domain.types import ActionKind, ActionState
from worker.service.logs import redact
from worker.store import alert_outbox

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

log = logging.getLogger("onair.alerts")

POST_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Alert:
    key: str  # what makes two alerts the same one, e.g. "action:12:missed"
    # action_failed | action_missed | action_early | scheduler_stalled | planner_failing | planner_recovered |
    # schedule_invalid | schedule_valid | no_consumer | consumer_recovered | daily_report
    event: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)

    def body(self, now: datetime) -> dict[str, Any]:
        return {
            "text": redact(self.text),
            "event": self.event,
            "alert_key": self.key,
            "at": now.isoformat(),
            **{k: redact(v) if isinstance(v, str) else v for k, v in self.fields.items()},
        }


def alert_action(
    rt: Runtime,
    action_id: int,
    stream_id: str,
    kind: ActionKind,
    state: ActionState,
    reason: str,
    cause: FailureCause | None = None,
) -> bool:
    """A failed or missed action. Returns True when this process raised it (not a duplicate)."""
    why = cause.summary if cause is not None else reason
    text = f"onair: {kind.value} of stream {stream_id} {state.value} (action #{action_id}): {why}"
    alert = Alert(
        key=f"action:{action_id}:{state.value}",
        event=f"action_{state.value}",
        text=text,
        fields={
            "action_id": action_id,
            "stream_id": stream_id,
            "kind": kind.value,
            "state": state.value,
            "reason": reason,
            **({"cause": cause.as_dict()} if cause is not None else {}),
        },
    )
    return raise_alert(rt.engine, rt.settings.alert_webhook_url, alert, now=rt.clock.now())


def alert_early_act(
    rt: Runtime,
    action_id: int,
    stream_id: str,
    kind: ActionKind,
    attempt: int,
    instant: datetime,
    lateness_seconds: float,
) -> bool:
    """An act call left before its instant: the one thing onair promises never happens (a clock that
    jumped back, or a bug). Once per attempt."""
    early_ms = -lateness_seconds * 1000.0
    text = (
        f"onair: {kind.value} of stream {stream_id} was sent {early_ms:.1f} ms before its instant "
        f"{instant.isoformat()} (action #{action_id}, attempt {attempt}): check the worker's clock"
    )
    alert = Alert(
        key=f"action:{action_id}:early:{attempt}",
        event="action_early",
        text=text,
        fields={
            "action_id": action_id,
            "stream_id": stream_id,
            "kind": kind.value,
            "attempt": attempt,
            "instant": instant.isoformat(),
            "early_ms": round(early_ms, 3),
        },
    )
    return raise_alert(rt.engine, rt.settings.alert_webhook_url, alert, now=rt.clock.now())


def scheduler_stalled(last_tick: datetime | None, age: float | None, limit: float, noticed_by: str) -> Alert:
    """One alert per stall: the key names the last tick seen, so a later stall alerts again."""
    since = "never" if last_tick is None else last_tick.isoformat(timespec="seconds")
    if age is None:
        text = f"onair: the scheduler has never ticked (limit {limit:.0f} s): is beat running?"
    else:
        text = f"onair: the scheduler has not ticked for {age:.0f} s (limit {limit:.0f} s): is beat running?"
    return Alert(
        key=f"stalled:{since}",
        event="scheduler_stalled",
        text=text,
        fields={
            "last_tick_at": None if last_tick is None else last_tick.isoformat(),
            "tick_age_seconds": None if age is None else round(age, 1),
            "limit_seconds": limit,
            "noticed_by": noticed_by,
        },
    )


def raise_alert(engine: Engine, webhook_url: str, alert: Alert, *, now: datetime) -> bool:
    """Log, record once, and queue the webhook post. False when another process already raised it."""
    body = alert.body(now)
    extra: dict[str, object] = {k: body[k] for k in ("action_id", "stream_id") if k in body}
    try:
        first = alert_outbox.insert_once(engine, alert.key, body, "pending" if webhook_url else "logged", now)
    except Exception as exc:  # no database: better an alert twice than none
        log.warning(
            "alert %s not recorded (%s); sending without deduplication", alert.key, type(exc).__name__
        )
        first = True
    if not first:
        log.debug("alert %s already raised", alert.key, extra=extra)
        return False
    log.error(body["text"], extra=extra)
    if webhook_url:
        sender().submit(Delivery(engine, webhook_url, alert.key, body))
    return True


@dataclass
class Delivery:
    engine: Engine
    url: str
    key: str
    body: dict[str, Any]
    attempts: int = 0


class AlertSender:
    """A daemon thread posting queued alerts, each with bounded retries and exponential back-off."""

    def __init__(self, attempts: int, backoff: float) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="onair-alerts", daemon=True)
        self._thread.start()

    def submit(self, delivery: Delivery) -> None:
        self._queue.put(delivery)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued alert was delivered or given up; True if that happened in time."""
        give_up = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > give_up:
                return False
            time.sleep(0.02)
        return True

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            try:
                self._deliver(delivery)
            except Exception:
                log.exception("alert %s: delivery crashed", delivery.key)
            finally:
                self._queue.task_done()

    def _deliver(self, delivery: Delivery) -> None:
        with httpx.Client(timeout=POST_TIMEOUT_SECONDS) as http:
            while delivery.attempts < self.attempts:
                delivery.attempts += 1
                try:
                    http.post(delivery.url, json=delivery.body).raise_for_status()
                except httpx.HTTPError as exc:
                    # The exception text may carry the webhook URL, which is itself a secret on Slack.
                    problem = _describe(exc)
                    log.warning(
                        "alert %s: webhook attempt %d failed: %s", delivery.key, delivery.attempts, problem
                    )
                    if delivery.attempts < self.attempts:
                        time.sleep(self.backoff * 2 ** (delivery.attempts - 1))
                    continue
                self._settle(delivery, "sent")
                log.info("alert %s sent (attempt %d)", delivery.key, delivery.attempts)
                return
        self._settle(delivery, "failed")
        log.error("alert %s: webhook failed %d times; giving up", delivery.key, delivery.attempts)

    @staticmethod
    def _settle(delivery: Delivery, status: str) -> None:
        try:
            now = datetime.now(UTC)
            alert_outbox.set_status(
                delivery.engine, delivery.key, status, delivery.attempts, delivery.body, now
            )
        except Exception as exc:
            log.warning("alert %s: could not record %s (%s)", delivery.key, status, type(exc).__name__)


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def resend_abandoned(engine: Engine, webhook_url: str, now: datetime) -> int:
    """Queue again the alerts left pending by a process that died before it delivered them."""
    if not webhook_url:
        return 0
    records = alert_outbox.take_abandoned(engine, timedelta(minutes=2), now)
    for record in records:
        sender().submit(Delivery(engine, webhook_url, record.key, record.body))
    alert_outbox.prune(engine, timedelta(days=7), now)
    return len(records)


_lock = threading.Lock()
_sender: AlertSender | None = None


def sender() -> AlertSender:
    """This process's alert sender, started on first use."""
    global _sender
    with _lock:
        if _sender is None or not _sender._thread.is_alive():
            settings = onair_settings()
            _sender = AlertSender(settings.alert_attempts, settings.alert_backoff_seconds)
        return _sender

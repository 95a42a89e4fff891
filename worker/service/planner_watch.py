"""What each planner tick leaves behind for `onair doctor`, the alerts and the report.

In scheduler_state: `planner:last_ok` (the last successful tick, and gaps between them, see
worker.store.observations), `planner:failure` (the failures since that success: first and last
instant, count, last error) and `planner:invalid_rows` (the flagged schedule rows as of the last tick).
From them, alerts: a planner failing ALERT_AFTER_FAILURES ticks in a row, and its recovery; a row that
becomes invalid (once per row and reason), and valid again. The outbox deduplicates what two planner
threads notice together.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from worker.clock import ensure_utc
from worker.config import OnairSettings
from worker.service import alerts
from worker.service.logs import redact
from worker.service.runtime import Runtime
from worker.store import alert_outbox, observations, planner_state, schedules
from worker.store.db import transaction

log = logging.getLogger("onair.planner")

OK_KEY = "planner:last_ok"
FAILURE_KEY = "planner:failure"
ROWS_KEY = "planner:invalid_rows"
ALERT_AFTER_FAILURES = 3
# Alerts for rows flagged in one tick beyond this many are summed up in one.
ROW_ALERTS_PER_TICK = 10
# A planner heartbeat missing for this many intervals is a gap in the report: three ticks missed
# (an idle tick writes it every other tick, see HEARTBEAT_INTERVALS).
GAP_INTERVALS = 4
# An idle tick writes the heartbeat only when the last one is this many intervals old: every other
# tick at the beat's pace, whatever its jitter, well inside the stall limit (6 intervals at least).
HEARTBEAT_INTERVALS = 1.5
# The planner's rows an idle tick reads at its start (with its own bookkeeping).
STATE_KEYS = (OK_KEY, FAILURE_KEY)
# An idle tick compares the flagged rows with the last alerted ones at most this often (seconds).
SETTLE_EVERY = 60.0
_last_settled = 0.0


def stall_limit(settings: OnairSettings) -> float:
    """Seconds without a successful tick after which the planner counts as stopped."""
    return max(settings.stall_seconds, 6 * settings.plan_seconds)


@dataclass(frozen=True)
class Failure:
    since: datetime
    at: datetime
    count: int
    error: str
    alerted: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "since": self.since.isoformat(),
                "at": self.at.isoformat(),
                "count": self.count,
                "error": self.error,
                "alerted": self.alerted,
            }
        )


@dataclass(frozen=True)
class PlannerState:
    last_ok: datetime | None
    failure: Failure | None  # failures since last_ok, if any
    # A tick under way: when it last wrote (each of its writes renews its lease). A cold tick or a
    # whole re-plan of a busy night runs for minutes, working all along.
    working_at: datetime | None = None

    def last_sign(self) -> datetime | None:
        """The planner's latest sign of life: a finished tick, or a write of the tick under way."""
        return max((t for t in (self.last_ok, self.working_at) if t is not None), default=None)


def read_state(session: Session) -> PlannerState:
    ok = schedules.get_state_row(session, OK_KEY)
    lease = schedules.get_state_row(session, planner_state.LEASE_KEY)
    working = None if lease is None or lease[0] is None else ensure_utc(lease[1])
    return PlannerState(None if ok is None else ensure_utc(ok[1]), _failure(session), working)


def describe_exception(exc: BaseException) -> str:
    # Drivers put the useful part first; later lines are SQL and links.
    first = (str(exc).strip().splitlines() or [""])[0]
    return redact(f"{type(exc).__name__}: {first}"[:300])


def tick_idle(rt: Runtime, seen: planner_state.Glance, *, alert: bool = True) -> None:
    """After a tick that found nothing to do without taking the lease (`seen`: what it read): the
    heartbeat when the last one is HEARTBEAT_INTERVALS old, or when a failure is on record or the
    flagged rows were last compared SETTLE_EVERY ago; else nothing is written."""
    last = seen.rows.get(OK_KEY)
    age = None if last is None else (rt.clock.now() - last[1]).total_seconds()
    if age is not None and age < HEARTBEAT_INTERVALS * rt.settings.plan_seconds and _quiet(seen):
        return
    tick_succeeded(rt, seen, alert=alert)


def _quiet(seen: planner_state.Glance) -> bool:
    return seen.value(FAILURE_KEY) is None and time.monotonic() - _last_settled < SETTLE_EVERY


def tick_succeeded(
    rt: Runtime,
    seen: planner_state.Glance,
    *,
    alert: bool = True,
    lease: str | None = None,
    book: planner_state.Book | None = None,
    may_flag: bool = False,
) -> None:
    """Note the tick (the heartbeat), giving back its `lease` in the same transaction, and writing its
    `book` if the lease was still its own (no lease: an idle tick that did not take it, whose
    heartbeat is written only while no tick holds it); with `alert`, also clear the failure and
    alert what changed since the last. `seen`: what the tick read at its start; then only the
    heartbeat is written unless the tick `may_flag` (may have flagged or cleared rows), a failure is
    on record, or the flagged rows were last compared SETTLE_EVERY ago (a command's re-plan may have
    flagged some without alerting)."""
    global _last_settled
    now = rt.clock.now()
    gap_after = timedelta(seconds=GAP_INTERVALS * rt.settings.plan_seconds)
    quiet = not may_flag and _quiet(seen)
    with transaction(rt.engine) as session:
        if lease is not None:
            if planner_state.release_lease(session, lease, now, planned_at=now) and book is not None:
                planner_state.write_book(session, book, now)
        elif planner_state.hold_free_lease(session, now):
            planner_state.note_planned(session, now)
        else:
            return  # a tick is under way: it writes the heartbeat when it ends
        previous = seen.rows.get(OK_KEY)
        observations.note_tick_after(
            session, "planner", OK_KEY, now, gap_after, None if previous is None else previous[1]
        )
        if not alert or quiet:
            return
        _last_settled = time.monotonic()
        failure = _failure(session)
        if failure is not None:
            schedules.set_state(session, FAILURE_KEY, None, now=now)
        flagged = {r.label: r.reason for r in observations.invalid_rows(session)}
        before = _rows(schedules.get_state(session, ROWS_KEY))
        if flagged != before:
            schedules.set_state(session, ROWS_KEY, json.dumps(flagged), now=now)
    url = rt.settings.alert_webhook_url
    if failure is not None and failure.alerted:
        alerts.raise_alert(rt.engine, url, planner_recovered(failure, now), now=now)
    _alert_rows(rt, before, flagged, now)


def tick_failed(rt: Runtime, exc: BaseException) -> None:
    """Count the failure; alert once when the planner has failed ALERT_AFTER_FAILURES times in a row.
    Never raises: the tick's own exception is what the caller re-raises."""
    now = rt.clock.now()
    try:
        with transaction(rt.engine) as session:
            old = _failure(session)
            count = 1 if old is None else old.count + 1
            alert = count >= ALERT_AFTER_FAILURES and not (old is not None and old.alerted)
            failure = Failure(
                now if old is None else old.since,
                now,
                count,
                describe_exception(exc),
                alert or (old is not None and old.alerted),
            )
            schedules.set_state(session, FAILURE_KEY, failure.to_json(), now=now)
        if alert:
            alerts.raise_alert(rt.engine, rt.settings.alert_webhook_url, planner_failing(failure), now=now)
    except Exception as recording:  # the database may be what failed
        log.warning("could not record the planner failure: %s", describe_exception(recording))


def planner_failing(failure: Failure) -> alerts.Alert:
    return alerts.Alert(
        key=f"planner_failing:{failure.since.isoformat(timespec='seconds')}",
        event="planner_failing",
        text=(
            f"onair: the planner failed {failure.count} ticks in a row since "
            f"{failure.since:%Y-%m-%d %H:%M:%S} UTC: {failure.error}"
        ),
        fields={"since": failure.since.isoformat(), "failures": failure.count, "error": failure.error},
    )


def planner_stalled(
    last_ok: datetime | None, age: float | None, limit: float, noticed_by: str
) -> alerts.Alert:
    """One alert per stop: the key names the last successful tick."""
    since = "never" if last_ok is None else last_ok.isoformat(timespec="seconds")
    ago = "has never planned" if age is None else f"has not planned for {age:.0f} s"
    return alerts.Alert(
        key=f"planner_stalled:{since}",
        event="planner_stalled",
        text=f"onair: the planner {ago} (limit {limit:.0f} s): is the planner worker running?",
        fields={"last_ok_at": None if last_ok is None else last_ok.isoformat(), "noticed_by": noticed_by},
    )


def planner_recovered(failure: Failure, now: datetime) -> alerts.Alert:
    return alerts.Alert(
        key=f"planner_recovered:{failure.since.isoformat(timespec='seconds')}",
        event="planner_recovered",
        text=(
            f"onair: the planner recovered: it plans again after {failure.count} failed ticks "
            f"({(now - failure.since).total_seconds():.0f} s)"
        ),
        fields={"since": failure.since.isoformat(), "failures": failure.count, "last_error": failure.error},
    )


def row_alert(label: str, reason: str, *, valid: bool) -> alerts.Alert:
    """`schedule_invalid` or `schedule_valid` for one row and reason: its key is what makes it once."""
    table, _, row_id = label.partition("#")
    if valid:
        text = f"onair: {label} is valid again and planned (it was: {reason})"
    else:
        text = f"onair: {label} is invalid and not planned: {reason}"
    return alerts.Alert(
        key=_row_key(label, reason, valid),
        event="schedule_valid" if valid else "schedule_invalid",
        text=text,
        fields={"table": table, "row_id": int(row_id), "reason": reason},
    )


def _alert_rows(rt: Runtime, before: dict[str, str], flagged: dict[str, str], now: datetime) -> None:
    url = rt.settings.alert_webhook_url
    changes = [(label, reason, False) for label, reason in flagged.items() if before.get(label) != reason]
    changes += [(label, reason, True) for label, reason in before.items() if flagged.get(label) != reason]
    for label, reason, valid in changes[:ROW_ALERTS_PER_TICK]:
        # Re-arm the opposite alert, so the row flagged again (or fixed again) later is told again.
        alert_outbox.forget_settled(rt.engine, _row_key(label, reason, not valid))
        alerts.raise_alert(rt.engine, url, row_alert(label, reason, valid=valid), now=now)
    rest = changes[ROW_ALERTS_PER_TICK:]
    if rest:
        digest = hashlib.sha256(repr(rest).encode()).hexdigest()[:16]
        labels = ", ".join(label for label, _, _ in rest[:20])
        text = f"onair: {len(rest)} more schedule rows changed validity: {labels} (see `onair doctor`)"
        alert = alerts.Alert(f"rows:{digest}", "schedule_invalid", text, {"rows": len(rest)})
        alerts.raise_alert(rt.engine, url, alert, now=now)


def _row_key(label: str, reason: str, valid: bool) -> str:
    digest = hashlib.sha256(f"{label}\n{reason}".encode()).hexdigest()[:20]
    return f"row:{digest}:{'valid' if valid else 'invalid'}"


def _failure(session: Session) -> Failure | None:
    value = schedules.get_state(session, FAILURE_KEY)
    if not value:
        return None
    try:
        data: dict[str, Any] = json.loads(value)
        return Failure(
            ensure_utc(datetime.fromisoformat(data["since"])),
            ensure_utc(datetime.fromisoformat(data["at"])),
            int(data["count"]),
            str(data["error"]),
            bool(data.get("alerted")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _rows(value: str | None) -> dict[str, str]:
    try:
        data = json.loads(value or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

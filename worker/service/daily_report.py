"""The daily report, posted to the alert webhook at ONAIR_REPORT_AT, once a day however many workers
watch: the day is claimed in the alert outbox (its key names the local date; the first insert wins),
which also resends it if the sender died. Every worker's watchdog calls `maybe_send`, so the report
needs neither beat nor the broker: a night when beat died is reported, with its gap."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from worker.domain.daily import report_due
from worker.service import alerts
from worker.service.report import build_report
from worker.service.report_text import render
from worker.service.runtime import Runtime
from worker.store import alert_outbox

log = logging.getLogger("onair.report")

PERIOD = timedelta(hours=24)


def maybe_send(rt: Runtime, now: datetime) -> bool:
    """Post today's report if it is due and nobody has; True when this call posted it."""
    schedule = rt.settings.report_schedule()
    if schedule is None:
        return False
    at, zone = schedule
    due = report_due(at, zone, now)
    if due is None:
        return False
    day, instant = due
    key = f"daily_report:{day.isoformat()}"
    if alert_outbox.read(rt.engine, key) is not None:  # the cheap check, every heartbeat
        return False
    report = build_report(rt.engine, rt.settings, instant - PERIOD, now)
    alert = alerts.Alert(
        key=key,
        event="daily_report",
        text=render(report, zone),
        fields={"day": day.isoformat(), "report": report.to_json()},
    )
    sent = alerts.raise_alert(rt.engine, rt.settings.alert_webhook_url, alert, now=now)
    if sent:
        log.info("daily report for %s raised", day.isoformat())
    return sent

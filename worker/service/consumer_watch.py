"""Whether some worker consumes the actions queue, watched by every worker's watchdog: `no_consumer`
once per outage, and `consumer_recovered` once when a worker consumes again after it (as
planner_failing / planner_recovered). The outage being alerted is kept in scheduler_state
(OUTAGE_KEY: the last consumer heartbeat before it, or `never`), so whichever watchdog sees the
consumers back raises the recovery, and the outbox makes it once."""

from __future__ import annotations

from datetime import datetime

from worker.service import alerts
from worker.service.runtime import Runtime
from worker.store import backlog, schedules
from worker.store.db import transaction

# Not under backlog's `worker:` or `consumer:` prefixes: those name heartbeats.
OUTAGE_KEY = "alerts:no_consumer"


def check(rt: Runtime, now: datetime, limit: float, noticed_by: str) -> alerts.Alert | None:
    """Alert when no worker has consumed the actions queue for `limit` seconds, or when one consumes
    again after such an alert; returns the alert this call raised, if any."""
    url = rt.settings.alert_webhook_url
    fresh = backlog.fresh_heartbeats(rt.engine, now, limit, prefix=backlog.CONSUMER_KEY_PREFIX)
    with transaction(rt.engine, immediate=False) as session:
        outage = schedules.get_state(session, OUTAGE_KEY)
    if fresh:
        if outage is None:
            return None
        alert = consumer_recovered(outage, now, fresh, noticed_by)
        raised = alerts.raise_alert(rt.engine, url, alert, now=now)
        with transaction(rt.engine) as session:
            schedules.set_state(session, OUTAGE_KEY, None, now=now)
        return alert if raised else None
    seen = backlog.worker_heartbeats(rt.engine, prefix=backlog.CONSUMER_KEY_PREFIX)
    last = max(seen.values(), default=None)
    alert = no_consumer(last, now, limit, noticed_by)
    if outage is None:
        with transaction(rt.engine) as session:
            schedules.set_state(session, OUTAGE_KEY, _since(last), now=now)
    return alert if alerts.raise_alert(rt.engine, url, alert, now=now) else None


def no_consumer(last: datetime | None, now: datetime, limit: float, noticed_by: str) -> alerts.Alert:
    """One alert per outage: the key names the last consumer heartbeat seen."""
    gone = "never consumed" if last is None else f"consumed nothing for {(now - last).total_seconds():.0f} s"
    return alerts.Alert(
        key=f"no_consumer:{_since(last)}",
        event="no_consumer",
        text=(
            f"onair: no worker consumes the actions queue ({gone}, limit {limit:.0f} s): due actions are "
            "not executed; is the worker running and connected to the broker?"
        ),
        fields={"last_consumer_at": None if last is None else last.isoformat(), "noticed_by": noticed_by},
    )


def consumer_recovered(since: str, now: datetime, consumers: list[str], noticed_by: str) -> alerts.Alert:
    """Once per outage: the key names the same heartbeat as the outage's `no_consumer`."""
    gone = "" if since == "never" else f" after {(now - datetime.fromisoformat(since)).total_seconds():.0f} s"
    return alerts.Alert(
        key=f"consumer_recovered:{since}",
        event="consumer_recovered",
        text=f"onair: a worker consumes the actions queue again{gone}: {', '.join(consumers)}",
        fields={
            "last_consumer_at": None if since == "never" else since,
            "consumers": consumers,
            "noticed_by": noticed_by,
        },
    )


def _since(last: datetime | None) -> str:
    return "never" if last is None else last.isoformat(timespec="seconds")

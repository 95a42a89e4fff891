"""The worker-side watchdog: a thread in every worker process that does not depend on beat or the
broker. Every ONAIR_HEARTBEAT_SECONDS it writes this worker's heartbeat (`worker:<hostname>` in
scheduler_state, which `onair doctor` reads), alerts when the dispatcher has not ticked for
ONAIR_STALL_SECONDS (beat is the usual suspect, and it cannot report its own death), and resends alerts
whose sender died, and about once a minute offers to run the daily prune (service/retention.py: one
worker per day claims it). Several workers noticing the same stall send one alert: the outbox deduplicates.
"""

from __future__ import annotations

import logging
import threading
import time

from worker.config import OnairSettings, onair_settings
from worker.service import alerts, backlog, retention
from worker.service.runtime import Runtime

log = logging.getLogger("onair.watchdog")

SWEEP_SECONDS = 60.0


class Watchdog:
    def __init__(self, rt: Runtime, hostname: str, settings: OnairSettings) -> None:
        self.rt = rt
        self.hostname = hostname
        self.settings = settings
        self.started = time.monotonic()
        self._next_sweep = self.started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="onair-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_once()
            except Exception as exc:  # keep watching: the database may come back
                log.warning("watchdog: %s: %s", type(exc).__name__, exc)
            self._stop.wait(self.settings.heartbeat_seconds)

    def check_once(self) -> alerts.Alert | None:
        """One round; returns the stall alert it raised, if any."""
        rt = self.rt
        now = rt.clock.now()
        backlog.write_worker_heartbeat(rt.engine, self.hostname, now)
        # Abandoned alerts are rare: look for them about once a minute, not on every heartbeat.
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            alerts.resend_abandoned(rt.engine, rt.settings.alert_webhook_url, now)
            retention.start_daily(rt, self.hostname)
        limit = self.settings.stall_seconds
        tick = backlog.last_tick(rt.engine)
        age = None if tick is None else (now - tick).total_seconds()
        # A fresh worker gives beat `limit` seconds to tick before blaming it.
        stalled = age > limit if age is not None else time.monotonic() - self.started > limit
        if not stalled:
            return None
        alert = alerts.scheduler_stalled(tick, age, limit, self.hostname)
        raised = alerts.raise_alert(rt.engine, rt.settings.alert_webhook_url, alert, now=now)
        return alert if raised else None


_lock = threading.Lock()
_watchdog: Watchdog | None = None


def start(rt: Runtime, hostname: str) -> Watchdog:
    """Start this process's watchdog once."""
    global _watchdog
    with _lock:
        if _watchdog is None:
            _watchdog = Watchdog(rt, hostname, onair_settings()).start()
            log.info("watchdog started for %s", hostname)
        return _watchdog

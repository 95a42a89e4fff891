"""The worker-side watchdog: a thread in every worker process that does not depend on beat or the
broker. Every ONAIR_HEARTBEAT_SECONDS it writes this worker's heartbeat (`worker:<hostname>` in
scheduler_state, which `onair doctor` reads), alerts when the dispatcher has not ticked for
ONAIR_STALL_SECONDS (beat is the usual suspect, and it cannot report its own death) or the planner has
not planned for its limit, alerts when no worker consumes the actions queue (a worker alive with its
consumer gone, or dead: the planner's watchdog notices) and when one consumes again
(service/consumer_watch.py), resends alerts whose sender died, posts the daily report when due, and
about once a minute offers to run the daily prune (service/retention.py: one worker per day claims it).
Several workers noticing the same stall send one alert: the outbox deduplicates.
A second thread watches the broadcasts' signal (worker.service.signal_watch: no signal, lost,
recovered) on the same beat, one process a round (worker.store.turns); it may read a stream from
FastPix, so it never holds up the heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from worker.config import OnairSettings, onair_settings
from worker.service import alerts, consumer_watch, daily_report, planner_watch, retention, signal_watch
from worker.service.runtime import Runtime
from worker.store import backlog, turns
from worker.store.db import transaction

log = logging.getLogger("onair.watchdog")

SWEEP_SECONDS = 60.0
SIGNAL_DUTY = "signal_watch"
# A signal round is taken when the last one is this share of a heartbeat old.
SIGNAL_TURN_SHARE = 0.8


# Whether this worker's Celery consumer is connected and consumes the actions queue.
ConsumerProbe = Callable[[], bool]


class Watchdog:
    def __init__(
        self, rt: Runtime, hostname: str, settings: OnairSettings, consuming: ConsumerProbe | None = None
    ) -> None:
        self.rt = rt
        self.hostname = hostname
        self.settings = settings
        self.consuming = consuming
        self.started = time.monotonic()
        self._next_sweep = self.started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="onair-watchdog", daemon=True)
        self._signal_thread = threading.Thread(target=self._watch_signal, name="onair-signal", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        self._signal_thread.start()
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

    def _watch_signal(self) -> None:
        # Every process offers, one a round does it: the round reads every broadcast on air, and
        # done by each worker and the planner it cost their number of times the work (two workers and
        # a planner: three). A little under the beat, so the rounds keep the beat's pace.
        every = timedelta(seconds=self.settings.heartbeat_seconds * SIGNAL_TURN_SHARE)
        while not self._stop.is_set():
            try:
                now = self.rt.clock.now()
                if turns.take_turn(self.rt.engine, SIGNAL_DUTY, now, every):
                    signal_watch.check(self.rt, now)
            except Exception as exc:  # keep watching: the database may come back
                log.warning("signal watch: %s: %s", type(exc).__name__, exc)
            self._stop.wait(self.settings.heartbeat_seconds)

    def check_once(self) -> alerts.Alert | None:
        """One round; returns the stall alert it raised, if any."""
        rt = self.rt
        now = rt.clock.now()
        consuming = self.consuming is not None and self.consuming()
        backlog.write_worker_heartbeat(rt.engine, self.hostname, now, consuming=consuming)
        self.check_consumers(now)
        # Abandoned alerts are rare: look for them about once a minute, not on every heartbeat.
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            alerts.resend_abandoned(rt.engine, rt.settings.alert_webhook_url, now)
            retention.start_daily(rt, self.hostname)
        for duty in (self._check_planner, daily_report.maybe_send):
            try:
                duty(rt, now)
            except Exception as exc:  # one duty failing must not stop the stall check below
                log.warning("watchdog: %s: %s", type(exc).__name__, exc)
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

    def _check_planner(self, rt: Runtime, now: datetime) -> alerts.Alert | None:
        """Alert once per stop when the planner has not ticked successfully for its limit (a failing
        planner alerts on its own, from its tick)."""
        limit = planner_watch.stall_limit(self.settings)
        with transaction(rt.engine, immediate=False) as session:
            state = planner_watch.read_state(session)
        last_ok, last_sign = state.last_ok, state.last_sign()
        age = None if last_sign is None else (now - last_sign).total_seconds()
        stalled = age > limit if age is not None else time.monotonic() - self.started > limit
        if not stalled:
            return None
        alert = planner_watch.planner_stalled(last_ok, age, limit, self.hostname)
        return alert if alerts.raise_alert(rt.engine, rt.settings.alert_webhook_url, alert, now=now) else None

    def check_consumers(self, now: datetime) -> alerts.Alert | None:
        """Alert when no worker has consumed the actions queue for 3 heartbeats (due actions are then
        claimed by nobody, the dispatcher runs on those workers, or wait in the broker), and when one
        consumes again after that alert."""
        limit = 3 * self.settings.heartbeat_seconds
        if time.monotonic() - self.started <= limit:  # a fresh worker's consumer is still connecting
            return None
        return consumer_watch.check(self.rt, now, limit, self.hostname)


_lock = threading.Lock()
_watchdog: Watchdog | None = None


def start(rt: Runtime, hostname: str, consuming: ConsumerProbe | None = None) -> Watchdog:
    """Start this process's watchdog once."""
    global _watchdog
    with _lock:
        if _watchdog is None:
            _watchdog = Watchdog(rt, hostname, onair_settings(), consuming).start()
            log.info("watchdog started for %s", hostname)
        return _watchdog

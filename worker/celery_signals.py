"""Every Celery signal handler of onair, in one place: the log format of the worker and beat, and, in
each worker process, the interpreter settings, the schema check, the metrics endpoint, the watchdog
and the catch-up at start. Imported by worker.celery_app, so every Celery process connects them
before it sets up logging."""

from __future__ import annotations

import gc
import logging
import socket
import sys
from contextlib import suppress
from functools import partial
from typing import Any

from celery import bootsteps
from celery.signals import after_setup_logger, after_setup_task_logger, worker_init, worker_ready

from worker.config import MissingSetting, onair_settings
from worker.queues import QUEUE
from worker.service import logs, metrics, watchdog
from worker.service.runtime import runtime
from worker.store.db import SchemaError, ensure_schema_current

log = logging.getLogger("onair.ops")

# An action thread waking at its instant waits for the GIL up to this long per hand-over while other
# threads compute (Python's default is 5 ms, and one call hands the GIL over several times).
GIL_SWITCH_SECONDS = 0.001


def _format_logs(logger: logging.Logger, **_: Any) -> None:
    logs.install(logger, onair_settings().log_format)


def _hand_the_gil_over_often(**_: Any) -> None:
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


def _refuse_outdated_schema(**_: Any) -> None:
    try:
        ensure_schema_current(runtime().engine)
    except SchemaError as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit is what stops it.
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(1) from None


def _freeze_the_start_up_heap(**_: Any) -> None:
    # Everything imported so far lives as long as the process: move it out of the collector's sight.
    # Full collections walked it all, stopping every thread for 60-140 ms, so calls due then left late.
    gc.collect()
    gc.freeze()


def _catch_up_at_start(**_: Any) -> None:
    # Know the streams and the plan at once, rather than after the first periodic runs.
    from worker import tasks  # the tasks module imports the app, which imports this module

    tasks.sync_streams.apply_async(retry=False)
    tasks.plan.apply_async(retry=False)


def _start_watchers(sender: Any = None, **_: Any) -> None:
    # The threads pool runs tasks in this very process: one metrics server and one watchdog per worker.
    rt = runtime()
    hostname = str(getattr(sender, "hostname", None) or socket.gethostname())
    try:
        metrics.start_server(rt.settings.metrics_port, rt.engine, rt.clock)
    except OSError as exc:
        log.error("metrics endpoint not started on port %d: %s", rt.settings.metrics_port, exc)
    watchdog.start(rt, hostname, partial(consumes_actions, sender))
    # The FastPix client is built now rather than by the first due action, which every action thread
    # would wait on (its TLS context alone is ~0.2 s of CPU: a burst's first call left 0.7 s late).
    with suppress(MissingSetting):  # no credentials: each action records that when it runs
        rt.client  # noqa: B018


def consumes_actions(consumer: Any) -> bool:
    """The Celery consumer (worker_ready's sender) is running, connected, and consumes the actions
    queue. During a broker outage its connection is None until it reconnects."""
    connection = getattr(consumer, "connection", None)
    tasks = getattr(consumer, "task_consumer", None)
    blueprint = getattr(consumer, "blueprint", None)
    if connection is None or tasks is None or blueprint is None or blueprint.state != bootsteps.RUN:
        return False
    return bool(connection.connected) and any(queue.name == QUEUE for queue in tasks.queues)


after_setup_logger.connect(_format_logs, weak=False)
after_setup_task_logger.connect(_format_logs, weak=False)
worker_init.connect(_hand_the_gil_over_often, weak=False)
worker_init.connect(_refuse_outdated_schema, weak=False)
worker_ready.connect(_start_watchers, weak=False)
worker_ready.connect(_freeze_the_start_up_heap, weak=False)
worker_ready.connect(_catch_up_at_start, weak=False)

"""Celery signal handlers for operations: log format in the worker and beat, and, in each worker
process, the metrics endpoint and the watchdog. Imported by worker.celery_app, so every Celery
process connects them before it sets up logging."""

from __future__ import annotations

import logging
import socket
from functools import partial
from typing import Any

from celery import bootsteps
from celery.signals import after_setup_logger, after_setup_task_logger, worker_ready

from worker.config import onair_settings
from worker.queues import QUEUE
from worker.service import logs, metrics, watchdog
from worker.service.runtime import runtime

log = logging.getLogger("onair.ops")


def _format_logs(logger: logging.Logger, **_: Any) -> None:
    logs.install(logger, onair_settings().log_format)


def _start_watchers(sender: Any = None, **_: Any) -> None:
    # The threads pool runs tasks in this very process: one metrics server and one watchdog per worker.
    rt = runtime()
    hostname = str(getattr(sender, "hostname", None) or socket.gethostname())
    try:
        metrics.start_server(rt.settings.metrics_port, rt.engine, rt.clock)
    except OSError as exc:
        log.error("metrics endpoint not started on port %d: %s", rt.settings.metrics_port, exc)
    watchdog.start(rt, hostname, partial(consumes_actions, sender))


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
worker_ready.connect(_start_watchers, weak=False)

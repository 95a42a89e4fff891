"""The Celery application: beat ticks, workers execute. The broker is only a wake-up call.

Everything that matters lives in the database ledger, so every setting here is chosen to keep Celery
from doing anything clever with time: no long ETAs (only the dispatcher's short countdown to the due
instant), no result backend, and a worker that never gives up on a broker that went away.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from celery import Celery
from pydantic import ValidationError

from worker import folder_broker, redis_broker
from worker.config import OnairSettings, onair_settings, settings_problem
from worker.domain.viewers import look_seconds
from worker.queues import PLAN_QUEUE, QUEUE, VIEWERS_QUEUE
from worker.service import ops_hooks  # noqa: F401  (connects logging, metrics and watchdog signals)


def broker_options(settings: OnairSettings) -> tuple[str, dict[str, Any]]:
    """The broker URL and transport options: Redis (or any kombu URL) if set, else the embedded one."""
    if settings.broker_url:
        # kombu's Redis transport would kill the worker on a Redis restart (worker/redis_broker.py).
        redis_broker.install()
        # Only ETAs of a couple of seconds are ever sent, so a short visibility timeout cannot make
        # kombu redeliver a waiting ETA message (notes.md §2); a redelivery is fenced by the lease anyway.
        return settings.broker_url, {"visibility_timeout": 300}
    folder = Path(settings.data_dir).resolve() / "broker"
    (folder / "control").mkdir(parents=True, exist_ok=True)
    # The embedded broker: message files in a folder, shared by the worker and beat on one machine.
    # It acks on fetch, so a killed worker loses what it held; the ledger's lease expiry recovers it.
    return f"{folder_broker.SCHEME}://", {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),
        "polling_interval": 0.05,
    }


def beat_schedule(settings: OnairSettings) -> dict[str, dict[str, Any]]:
    expires = max(2.0, settings.tick_seconds * 3)
    return {
        "dispatch": {
            "task": "onair.dispatch",
            "schedule": settings.tick_seconds,
            "options": {"expires": expires},
        },
        "plan": {
            "task": "onair.plan",
            "schedule": settings.plan_seconds,
            "options": {"expires": max(expires, settings.plan_seconds * 2)},
        },
        "sync-streams": {
            "task": "onair.sync_streams",
            "schedule": settings.sync_seconds,
            "options": {"expires": settings.sync_seconds},
        },
        "sample-viewers": {
            "task": "onair.sample_viewers",
            "schedule": look_seconds(settings.viewers_every),
            "options": {"expires": look_seconds(settings.viewers_every)},
        },
    }


def _settings() -> OnairSettings:
    """The settings, or exit with one line naming the bad one (a worker or beat must not start)."""
    try:
        return onair_settings()
    except ValidationError as exc:
        sys.stderr.write(f"error: bad setting: {settings_problem(exc)}\n")
        raise SystemExit(1) from None


def make_celery(settings: OnairSettings | None = None) -> Celery:
    settings = settings or _settings()
    url, transport_options = broker_options(settings)
    data_dir = Path(settings.data_dir).resolve()
    # Beat keeps its schedule file here; without the folder it dies at start, on every restart.
    data_dir.mkdir(parents=True, exist_ok=True)
    app = Celery("onair", include=["worker.tasks"])
    app.conf.update(
        broker_url=url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # The default (100 retries, ~45 min) makes the worker exit during a long broker outage.
        broker_connection_max_retries=None,
        broker_channel_error_retry=True,
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_routes={
            "onair.plan": {"queue": PLAN_QUEUE},
            "onair.sync_streams": {"queue": PLAN_QUEUE},
            "onair.sample_viewers": {"queue": VIEWERS_QUEUE},
        },
        task_serializer="json",
        accept_content=["json"],
        # Acked on receipt: a message lost with a killed worker is recovered from the ledger's lease,
        # and never redelivered behind the ledger's back.
        task_acks_late=False,
        worker_prefetch_multiplier=4,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_enable_remote_control=bool(settings.broker_url),
        timezone="UTC",
        enable_utc=True,
        beat_schedule=beat_schedule(settings),
        beat_max_loop_interval=settings.tick_seconds,
        beat_schedule_filename=str(data_dir / "celerybeat-schedule"),
    )
    return app


app = make_celery()

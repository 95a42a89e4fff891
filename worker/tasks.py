"""Celery tasks: thin. They take ids, call a service, and log the outcome."""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery.signals import worker_init, worker_ready

from worker.celery_app import app
from worker.service import dispatcher, executor, planning, sync
from worker.service.runtime import runtime
from worker.store.db import SchemaError, ensure_schema_current
from worker.store.ledger import Claim

log = logging.getLogger("onair.tasks")


@worker_init.connect
def _refuse_outdated_schema(**_: Any) -> None:
    try:
        ensure_schema_current(runtime().engine)
    except SchemaError as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit is what stops it.
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(1) from None


@worker_ready.connect
def _catch_up_at_start(**_: Any) -> None:
    # Know the streams and the plan at once, rather than after the first periodic runs.
    sync_streams.apply_async(retry=False)
    plan.apply_async(retry=False)


@app.task(name="onair.execute")
def execute(action_id: int, lease_token: str) -> None:
    outcome = executor.execute(runtime(), action_id, lease_token)
    log.info("action #%s: %s", action_id, outcome.detail, extra={"action_id": action_id})
    if outcome.follow_up:
        dispatch.apply_async(retry=False)


def _send(claim: Claim) -> None:
    rt = runtime()
    eta = dispatcher.wake_at(claim, rt.clock.now())
    execute.apply_async((claim.action_id, claim.lease_token), eta=eta, retry=False)


@app.task(name="onair.dispatch")
def dispatch() -> None:
    report = dispatcher.dispatch_tick(runtime(), _send)
    if report.claimed or report.missed or report.reclaimed:
        log.info(
            "tick: claimed %d, missed %d, reclaimed %d, send failures %d",
            report.claimed,
            report.missed,
            report.reclaimed,
            report.send_failures,
        )


@app.task(name="onair.plan")
def plan() -> None:
    report = planning.plan_tick(runtime())
    if report.changed:
        log.info("plan: %s", report.summary)


@app.task(name="onair.sync_streams")
def sync_streams() -> None:
    count = sync.sync_streams(runtime())
    log.info("synced %d streams from FastPix", count)

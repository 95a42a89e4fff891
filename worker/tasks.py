"""Celery tasks: thin. They take ids, call a service, and log the outcome."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from worker.celery_app import app
from worker.service import dispatcher, executor, planning, sync, viewers
from worker.service.runtime import runtime
from worker.store.ledger import Claim

log = logging.getLogger("onair.tasks")


@app.task(name="onair.execute_batch")
def execute_batch(leases: list[tuple[int, str]]) -> None:
    pairs = [(int(action_id), str(token)) for action_id, token in leases]
    attempts = executor.execute_batch(runtime(), pairs)
    for attempt in attempts:
        log.info("action #%s: %s", attempt.action_id, attempt.detail, extra={"action_id": attempt.action_id})
    if any(attempt.follow_up for attempt in attempts):
        dispatch.apply_async(retry=False)


def _send(batch: Sequence[Claim]) -> None:
    eta = dispatcher.wake_at(batch, runtime().clock.now())
    leases = [(claim.action_id, claim.lease_token) for claim in batch]
    execute_batch.apply_async((leases,), eta=eta, retry=False)


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


@app.task(name="onair.sample_viewers")
def sample_viewers() -> None:
    done = viewers.sample_round(runtime())
    if done.sampled or done.failed:
        log.info("viewers: sampled %d broadcasts, %d failed", len(done.sampled), len(done.failed))

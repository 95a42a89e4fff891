"""Celery tasks: thin. They take ids, call a service, and log the outcome."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Sequence
from typing import Any

from celery.signals import worker_init, worker_ready

from worker.celery_app import app
from worker.service import dispatcher, executor, planning, sync, viewers
from worker.service.runtime import runtime
from worker.store.db import SchemaError, ensure_schema_current
from worker.store.ledger import Claim

log = logging.getLogger("onair.tasks")


# An action thread waking at its instant waits for the GIL up to this long per hand-over while other
# threads compute (Python's default is 5 ms, and one call hands the GIL over several times).
GIL_SWITCH_SECONDS = 0.001


@worker_init.connect
def _hand_the_gil_over_often(**_: Any) -> None:
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


@worker_init.connect
def _refuse_outdated_schema(**_: Any) -> None:
    try:
        ensure_schema_current(runtime().engine)
    except SchemaError as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit is what stops it.
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(1) from None


@worker_ready.connect
def _freeze_the_start_up_heap(**_: Any) -> None:
    # Everything imported so far lives as long as the process: move it out of the collector's sight.
    # Full collections walked it all, stopping every thread for 60-140 ms, so calls due then left late.
    gc.collect()
    gc.freeze()


@worker_ready.connect
def _catch_up_at_start(**_: Any) -> None:
    # Know the streams and the plan at once, rather than after the first periodic runs.
    sync_streams.apply_async(retry=False)
    plan.apply_async(retry=False)


@app.task(name="onair.execute_batch")
def execute_batch(leases: list[tuple[int, str]]) -> None:
    pairs = [(int(action_id), str(token)) for action_id, token in leases]
    outcomes = executor.execute_batch(runtime(), pairs)
    for (action_id, _), outcome in zip(pairs, outcomes, strict=True):
        log.info("action #%s: %s", action_id, outcome.detail, extra={"action_id": action_id})
    if any(outcome.follow_up for outcome in outcomes):
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

"""Re-planning at once after a change to a schedule, so the ledger (and the answer to the person who
made the change) shows its result immediately.

A failure here loses nothing: the scheduler re-plans every few seconds. So it is reported, not raised:
the CLI prints it as a warning, the API logs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from worker.clock import Clock, SystemClock
from worker.config import FastPixSettings, OnairSettings
from worker.service.planning import PlanReport, plan_tick
from worker.service.runtime import Runtime

log = logging.getLogger(__name__)

# A planner tick the scheduler is running meanwhile sees the change too: waiting a little for it lets
# this one show what was planned. A person at a terminal can wait longer than an HTTP request.
CLI_WAIT_SECONDS = 10.0
API_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Replanned:
    report: PlanReport | None
    failure: str | None = None  # why planning now failed (the change itself is saved)


def replan(
    settings: OnairSettings,
    engine: Engine,
    *,
    clock: Clock | None = None,
    full: bool = False,
    wait: float = CLI_WAIT_SECONDS,
) -> Replanned:
    """Run the planner now (an incremental tick; every stream over the whole horizon with `full`)."""
    rt = Runtime(settings, FastPixSettings(), clock=clock or SystemClock())
    rt.engine = engine
    try:
        return Replanned(plan_tick(rt, full=full, wait=wait, scheduler=False))
    except (SQLAlchemyError, ValueError) as exc:
        log.warning("saved, but planning now failed (%s); the scheduler will plan it", type(exc).__name__)
        return Replanned(None, first_line(exc))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

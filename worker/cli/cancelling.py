"""Saying what a cancellation did, shared by `onair broadcast cancel`, `onair book cancel`,
`onair offhours remove` and `onair series cancel` (the cancelling itself is service.cancelling):
cancelling twice is no error (the second says when the first happened), and the operator is told which
planned actions it cancelled and which were already under way (those run to their end); a slot on air
ends now, with its finish planned for now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from worker.cli import output
from worker.cli.actor import who
from worker.cli.timeline import warn_replan
from worker.config import OnairSettings
from worker.service.cancelling import Cancelled, Schedule, cancel
from worker.service.errors import InvalidInput


def cancel_and_say(
    settings: OnairSettings,
    engine: Engine,
    schedule: Schedule,
    row_id: int,
    *,
    what: str,
    now: datetime,
    head: str | None = None,
    verb: str = "cancelled",
) -> Cancelled:
    """Cancel the row and say what it did: `<head>; N planned actions cancelled` (`<what> <verb>` by
    default), or when it had been cancelled already."""
    with output.reporting(InvalidInput):
        done = cancel(settings, engine, schedule, row_id, now=now, actor=who())
    if done.already_at is not None:
        output.info(f"{what} was already {verb} at {done.already_at.isoformat()}")
        return done
    warn_replan(done.replan_failure)
    if done.ended_early:
        output.info(
            f"{head or f'{what} {verb}'} while live: finished early "
            f"({counted(done.ending, 'action')} planned for now to end it)"
        )
    elif schedule is not Schedule.SERIES:
        say_cancelled(head or f"{what} {verb}", done.cancelled, done.running)
    return done


def say_cancelled(head: str, cancelled: int, running: int) -> None:
    """`<head>; N planned actions cancelled`, and a second line when some were already under way."""
    output.info(f"{head}; {counted(cancelled, 'planned action')} cancelled")
    if running:
        output.info(f"{counted(running, 'action')} already under way will run to its end")


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"

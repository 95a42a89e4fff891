"""The ledger's backlog and the scheduler's heartbeats, as read by `onair doctor`, the metrics
endpoint and the watchdog. Each is one indexed query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, func, select

from worker.clock import ensure_utc
from worker.domain.types import ActionState
from worker.store import schedules
from worker.store.db import transaction
from worker.store.models import Action, SchedulerState

LAST_TICK_KEY = "last_tick_at"
WORKER_KEY_PREFIX = "worker:"
# Written with the worker heartbeat while the worker's Celery consumer is connected and consumes the
# actions queue: a worker process can be alive with its consumer gone (a broker outage).
CONSUMER_KEY_PREFIX = "consumer:"


@dataclass(frozen=True)
class Backlog:
    due: int  # pending and due now, not claimed by anyone
    retrying: int  # pending after at least one failed attempt
    claimed: int
    oldest_due_at: datetime | None

    def oldest_due_age(self, now: datetime) -> float:
        return 0.0 if self.oldest_due_at is None else max(0.0, (now - self.oldest_due_at).total_seconds())


def read_backlog(engine: Engine, now: datetime) -> Backlog:
    pending = Action.state == ActionState.PENDING.value
    due = and_(pending, Action.next_attempt_at <= ensure_utc(now))
    with transaction(engine, immediate=False) as session:
        due_count, oldest = session.execute(
            select(func.count(), func.min(Action.next_attempt_at)).where(due)
        ).one()
        retrying = session.scalar(select(func.count()).where(pending, Action.attempts > 0))
        claimed = session.scalar(select(func.count()).where(Action.state == ActionState.CLAIMED.value))
    return Backlog(
        int(due_count), int(retrying or 0), int(claimed or 0), ensure_utc(oldest) if oldest else None
    )


def last_tick(engine: Engine) -> datetime | None:
    """When the dispatcher last ticked (it runs on beat's schedule), or None if it never did."""
    with transaction(engine, immediate=False) as session:
        row = schedules.get_state_row(session, LAST_TICK_KEY)
    return None if row is None else ensure_utc(row[1])


def tick_age(engine: Engine, now: datetime) -> float | None:
    tick = last_tick(engine)
    return None if tick is None else max(0.0, (now - tick).total_seconds())


def write_worker_heartbeat(engine: Engine, hostname: str, now: datetime, *, consuming: bool = False) -> None:
    """This worker's heartbeat, and its consumer's when it consumes the actions queue: one transaction."""
    with transaction(engine) as session:
        for prefix in (WORKER_KEY_PREFIX, CONSUMER_KEY_PREFIX) if consuming else (WORKER_KEY_PREFIX,):
            schedules.set_state(session, f"{prefix}{hostname}"[:64], now.isoformat(), now=now)


def worker_heartbeats(engine: Engine, *, prefix: str = WORKER_KEY_PREFIX) -> dict[str, datetime]:
    """Every worker that ever wrote a heartbeat (or, with CONSUMER_KEY_PREFIX, a consumer heartbeat),
    and when it last did."""
    with transaction(engine, immediate=False) as session:
        rows = session.execute(
            select(SchedulerState.key, SchedulerState.updated_at).where(
                SchedulerState.key.startswith(prefix, autoescape=True)
            )
        ).all()
    return {key[len(prefix) :]: ensure_utc(at) for key, at in rows}


def fresh_heartbeats(
    engine: Engine, now: datetime, within: float, *, prefix: str = WORKER_KEY_PREFIX
) -> list[str]:
    """The workers (or consumers) whose heartbeat is at most `within` seconds old."""
    beats = worker_heartbeats(engine, prefix=prefix)
    return sorted(name for name, at in beats.items() if (now - at).total_seconds() <= within)

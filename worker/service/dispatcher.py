"""The dispatcher tick: in one transaction, recover expired leases, mark what can no longer run as missed,
claim what is due (a little ahead of time) and hand the claimed row ids to workers, in batches of
actions due within moments of each other (one message, one take-over and one write per batch, not per
action).

The broker only carries the wake-up: if a send fails the claim is released at once, and if a message
is lost after it was sent the lease expires and the row is claimed again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from worker.domain.budget import claims_per_tick
from worker.domain.types import ActionKind, ActionState
from worker.service import metrics
from worker.service.alerts import alert_action
from worker.service.runtime import Runtime
from worker.store import ledger, observations
from worker.store.db import transaction

log = logging.getLogger("onair.dispatcher")

Send = Callable[[Sequence[ledger.Claim]], None]
# The take-over takes a few ms, but on SQLite it may wait for the write lock behind a planner
# transaction; it must be done before the executor reads the stream (CHECK_AHEAD, 300 ms before the
# instant). The executor then sleeps to the instant.
WAKE_EARLY = timedelta(seconds=1)
# A batch holds actions due within this long of its first: one message, one take-over and outcomes
# written together for all of them, while each is read just before its own instant and sent on it
# (the executor hands each run to a thread only then). At 50 ms a steady 100 actions a second made
# batches of ~5, and the message and transactions of each batch were a large part of the CPU per action.
BATCH_SPREAD = timedelta(milliseconds=500)
# No tick for this many tick intervals is a gap worth reporting.
GAP_TICKS = 5
# One tick at a time in a process (see dispatch_tick).
_ticking = threading.Lock()


@dataclass(frozen=True)
class DispatchReport:
    reclaimed: int
    missed: int
    claimed: int
    send_failures: int
    # Another tick of this process was still running: this one did nothing.
    skipped: bool = False


def wake_at(batch: Sequence[ledger.Claim], now: datetime) -> datetime | None:
    """When the worker should get the message (None: at once): a little before the first due instant,
    so the take-over and the state checks are done by then and each act leaves on its instant."""
    wake = min(claim.next_attempt_at for claim in batch) - WAKE_EARLY
    return wake if wake > now else None


def batches(claims: Sequence[ledger.Claim], size: int) -> list[list[ledger.Claim]]:
    """Group claims, in due order, into batches of at most `size` due within BATCH_SPREAD."""
    grouped: list[list[ledger.Claim]] = []
    for claim in sorted(claims, key=lambda c: c.next_attempt_at):
        last = grouped[-1] if grouped else None
        if last and len(last) < size and claim.next_attempt_at - last[0].next_attempt_at <= BATCH_SPREAD:
            last.append(claim)
        else:
            grouped.append([claim])
    return grouped


def dispatch_tick(rt: Runtime, send: Send, *, limit: int = 2000) -> DispatchReport:
    """One tick, unless another tick of this process is still running: then nothing (the next tick
    comes within a second). Beat sends a tick every second whatever the ticks' pace; when the write
    lock is contended (SQLite under a long burst) ticks used to pile up behind it, each holding a Celery
    thread and taking the lock in turn from the take-overs and lease renewals, and each claiming with a
    count of the claims in flight read before the others' claims (under FASTPIX_MAX_RPS that count
    bounds the claims: piled-up ticks claimed two or three times the budget's five seconds)."""
    if not _ticking.acquire(blocking=False):
        return DispatchReport(0, 0, 0, 0, skipped=True)
    try:
        return _tick(rt, send, limit)
    finally:
        _ticking.release()


def _tick(rt: Runtime, send: Send, limit: int) -> DispatchReport:
    """One transaction: take back expired leases, mark missed what can no longer run, claim what is
    due; then alert on the missed and hand the claims to workers."""
    settings = rt.settings
    max_rps = rt.fastpix.max_rps

    def cap(in_flight: int) -> int:
        assert max_rps is not None
        return claims_per_tick(max_rps, limit, in_flight=in_flight)

    with transaction(rt.engine) as session:
        due = ledger.dispatch_due(
            session,
            rt.clock,
            ahead=timedelta(seconds=settings.claim_ahead_seconds),
            lease=timedelta(seconds=settings.lease_seconds),
            owner=rt.identity,
            limit=limit,
            cap=cap if max_rps is not None else None,
        )
        # A gap of a few ticks is kept for the report: actions due then ran late.
        gap_after = timedelta(seconds=GAP_TICKS * settings.tick_seconds)
        observations.note_tick(session, "dispatcher", "last_tick_at", due.now, gap_after)
    for action in due.missed:
        metrics.action_missed(action.kind)
        alert_action(
            rt,
            action.id,
            action.stream_id,
            ActionKind(action.kind),
            ActionState.MISSED,
            action.outcome or "deadline passed",
        )
    claims = due.claims
    failures = 0
    for batch in batches(claims, settings.batch_size):
        try:
            send(batch)
        except Exception as exc:  # any broker error: give the rows back now rather than at lease expiry
            failures += len(batch)
            ids = ", ".join(f"#{claim.action_id}" for claim in batch)
            log.warning("could not send actions %s to the broker (%s); released", ids, exc)
            with transaction(rt.engine) as session:
                for claim in batch:
                    ledger.release(session, claim.action_id, claim.lease_token, now=rt.clock.now())
    return DispatchReport(due.reclaimed, len(due.missed), len(claims), failures)

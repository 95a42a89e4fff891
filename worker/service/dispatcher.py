"""The dispatcher tick: recover expired leases, mark what can no longer run as missed, claim what is
due (a little ahead of time) and hand each claimed row id to a worker.

The broker only carries the wake-up: if a send fails the claim is released at once, and if a message
is lost after it was sent the lease expires and the row is claimed again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from worker.domain.types import ActionKind, ActionState
from worker.service import metrics
from worker.service.alerts import alert_action
from worker.service.runtime import Runtime
from worker.store import ledger, schedules
from worker.store.db import transaction

log = logging.getLogger("onair.dispatcher")

Send = Callable[[ledger.Claim], None]
# Take-over and GET take a few ms (tens under load); the executor then sleeps to the instant.
WAKE_EARLY = timedelta(milliseconds=100)


@dataclass(frozen=True)
class DispatchReport:
    reclaimed: int
    missed: int
    claimed: int
    send_failures: int


def wake_at(claim: ledger.Claim, now: datetime) -> datetime | None:
    """When the worker should get the message (None: at once): a little before the due instant, so the
    take-over and the state check are done by then and the act leaves on the instant."""
    wake = claim.next_attempt_at - WAKE_EARLY
    return wake if wake > now else None


def dispatch_tick(rt: Runtime, send: Send, *, limit: int = 2000) -> DispatchReport:
    settings = rt.settings
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        reclaimed = ledger.reclaim_expired(session, now)
        missed = ledger.mark_missed(session, now)
        schedules.set_state(session, "last_tick_at", now.isoformat(), now=now)
    for action in missed:
        metrics.action_outcome(action.kind, ActionState.MISSED)
        alert_action(
            rt,
            action.id,
            action.stream_id,
            ActionKind(action.kind),
            ActionState.MISSED,
            action.outcome or "deadline passed",
        )
    claims = ledger.claim_due(
        rt.engine,
        now=now,
        ahead=timedelta(seconds=settings.claim_ahead_seconds),
        lease=timedelta(seconds=settings.lease_seconds),
        owner=rt.identity,
        limit=limit,
    )
    failures = 0
    for claim in claims:
        try:
            send(claim)
        except Exception as exc:  # any broker error: give the row back now rather than at lease expiry
            failures += 1
            log.warning("could not send action #%s to the broker (%s); released", claim.action_id, exc)
            with transaction(rt.engine) as session:
                ledger.release(session, claim.action_id, claim.lease_token, now=rt.clock.now())
    return DispatchReport(reclaimed, len(missed), len(claims), failures)

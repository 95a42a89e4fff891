"""The ledger of planned actions: the one place that says what will happen, what happened, and who did it.

    pending --claim_due--> claimed --complete--> succeeded | failed | skipped | missed | superseded
       ^                     |
       +--- retry_later -----+   (also release, and reclaim_expired when a lease runs out)
    pending --apply_plan--> cancelled        pending --mark_missed--> missed
    pending --claim_due (a later action on the stream is due while this one retries)--> superseded

The protocol (claims, leases, fencing) is described in docs/schema.md; the pieces live in
ledger_plan (writing the plan), ledger_claim (claiming and leases) and ledger_fence (fenced writes).
"""

from __future__ import annotations

from worker.store.events import Event, insert_events, record_event
from worker.store.ledger_claim import Claim, claim_due, count_claimed, reclaim_expired, streams_with_due
from worker.store.ledger_fence import (
    SENDING,
    Finish,
    Held,
    complete,
    complete_many,
    load_claimed,
    note_api_response,
    record_intent,
    release,
    renew,
    retry_later,
    take_over,
)
from worker.store.ledger_plan import CANCEL_OUTCOME, MissedAction, PlanStats, apply_plan, mark_missed

__all__ = [
    "CANCEL_OUTCOME",
    "SENDING",
    "Claim",
    "Event",
    "Finish",
    "Held",
    "MissedAction",
    "PlanStats",
    "apply_plan",
    "claim_due",
    "complete",
    "complete_many",
    "count_claimed",
    "insert_events",
    "load_claimed",
    "mark_missed",
    "note_api_response",
    "reclaim_expired",
    "record_event",
    "record_intent",
    "release",
    "renew",
    "retry_later",
    "streams_with_due",
    "take_over",
]

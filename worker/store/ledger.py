"""The ledger of planned actions: the one place that says what will happen, what happened, and who did it.

    pending --claim_due--> claimed --record_attempts--> succeeded | failed | skipped | missed | superseded
       ^                     |
       +--- retry_later -----+   (also release, and reclaim_expired when a lease runs out)
    pending --apply_plan--> cancelled        pending --mark_missed--> missed
    pending --claim_due (a later action on the stream is due while this one retries)--> superseded

The protocol (claims, leases, fencing) is described in docs/schema.md; the pieces live in ledger_plan
(writing the plan), ledger_claim (the dispatcher's tick: claiming, leases, missed) and ledger_fence
(fenced writes).
"""

from __future__ import annotations

from worker.store.events import Event, insert_events, record_event
from worker.store.ledger_claim import (
    Claim,
    Due,
    MissedAction,
    claim_due,
    count_claimed,
    dispatch_due,
    mark_missed,
    reclaim_expired,
    streams_with_due,
)
from worker.store.ledger_fence import (
    SENDING,
    Held,
    Intent,
    note_api_response,
    record_attempts,
    record_intents,
    release,
    renew,
    retry_later,
    take_over,
)
from worker.store.ledger_plan import (
    CANCEL_OUTCOME,
    LedgerGlance,
    PlanStats,
    apply_plan,
    glance_ledger,
    plan_changes_nothing,
)

__all__ = [
    "CANCEL_OUTCOME",
    "SENDING",
    "Claim",
    "Due",
    "Event",
    "Held",
    "Intent",
    "LedgerGlance",
    "MissedAction",
    "PlanStats",
    "apply_plan",
    "claim_due",
    "count_claimed",
    "dispatch_due",
    "glance_ledger",
    "insert_events",
    "mark_missed",
    "note_api_response",
    "plan_changes_nothing",
    "reclaim_expired",
    "record_attempts",
    "record_event",
    "record_intents",
    "release",
    "renew",
    "retry_later",
    "streams_with_due",
    "take_over",
]

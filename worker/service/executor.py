"""Execute one claimed action: check the stream, act only if needed, record what happened.

The lease is the fence: the executor first swaps the dispatcher's token for its own (a redelivered or
duplicated message finds the token gone and stops), and every later write names that token, so a
stale worker whose lease expired cannot overwrite a newer outcome.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from worker.domain.decisions import Call, NoOp, decide, interpret_error
from worker.domain.retry import GiveUp, RetryPolicy, decide_retry
from worker.domain.types import ActionKind, ActionState
from worker.fastpix.client import CallRecord, FastPixClient
from worker.fastpix.errors import Classification, FastPixError, classify, retry_after
from worker.service import metrics
from worker.service.alerts import alert_action
from worker.service.calls import collecting_calls
from worker.service.context import action_scope
from worker.service.runtime import Runtime
from worker.store import ledger
from worker.store.db import transaction
from worker.store.events import Event, insert_events
from worker.store.models import Action

# The stream is read at most this long before the due instant, and the act is sent at the instant.
CHECK_AHEAD = timedelta(milliseconds=100)


@dataclass(frozen=True)
class Outcome:
    state: ActionState | None  # None: still pending (retry) or the message was stale
    detail: str
    # Another action on the same stream is due now: dispatch it at once rather than on the next tick.
    follow_up: bool = False


def execute(rt: Runtime, action_id: int, lease_token: str, *, rng: random.Random | None = None) -> Outcome:
    token = secrets.token_hex(16)
    with transaction(rt.engine) as session:
        action = ledger.take_over(
            session, action_id, lease_token, new_token=token, owner=rt.identity, now=rt.clock.now()
        )
        if action is None:
            return Outcome(None, "stale message: the action is no longer held by this lease")
        snapshot = _Snapshot.of(action)
    kind = snapshot.kind.value
    with action_scope(snapshot.id, snapshot.stream_id, kind, snapshot.due_at, snapshot.attempts + 1):
        outcome = _Run(rt, snapshot, token, rng or random.Random()).go()
    metrics.action_outcome(kind, outcome.state, outcome.detail)
    return outcome


@dataclass(frozen=True)
class _Snapshot:
    id: int
    stream_id: str
    kind: ActionKind
    due_at: datetime
    deadline_at: datetime
    next_attempt_at: datetime
    attempts: int
    payload: dict[str, Any] | None

    @classmethod
    def of(cls, action: Action) -> _Snapshot:
        return cls(
            id=action.id,
            stream_id=action.stream_id,
            kind=ActionKind(action.kind),
            due_at=action.due_at,
            deadline_at=action.deadline_at,
            next_attempt_at=action.next_attempt_at,
            attempts=action.attempts,
            payload=json.loads(action.payload) if action.payload else None,
        )


def _wait_until(rt: Runtime, when: datetime) -> None:
    """Never act early: the message arrives a little before its instant (the dispatcher claims ahead and
    wakes the worker early, so the take-over and the check are done when the instant comes)."""
    delay = (when - rt.clock.now()).total_seconds()
    if delay > 0:
        time.sleep(min(delay, 30.0))


class _Run:
    def __init__(self, rt: Runtime, action: _Snapshot, token: str, rng: random.Random) -> None:
        self.rt = rt
        self.action = action
        self.token = token
        self.rng = rng
        self.attempt = action.attempts + 1

    def go(self) -> Outcome:
        # A message that waited long in the broker may be early by more than the wake-up margin:
        # check close to the instant, so the state read is fresh. A retry reads no earlier than its
        # time: that time may be a server's Retry-After, which covers every request, the read too.
        ahead = CHECK_AHEAD if self.action.attempts == 0 else timedelta(0)
        _wait_until(self.rt, self.action.next_attempt_at - ahead)
        now = self.rt.clock.now()
        if now >= self.action.deadline_at:
            return self._finish(
                ActionState.MISSED,
                f"deadline {self.action.deadline_at:%Y-%m-%d %H:%M:%S} UTC passed before it could run",
                [],
            )
        client = self.rt.client
        with collecting_calls() as calls:
            try:
                stream = client.get_stream(self.action.stream_id)
                decision = decide(self.action.kind, stream.status, self.action.payload)
                if isinstance(decision, NoOp):
                    return self._finish(decision.state, decision.outcome, calls)
                _wait_until(self.rt, self.action.next_attempt_at)
                self._call(client, decision)
            except FastPixError as exc:
                return self._failed_call(exc, calls)
            return self._finish(ActionState.SUCCEEDED, _DONE[self.action.kind], calls)

    def _call(self, client: FastPixClient, decision: Call) -> None:
        stream_id = self.action.stream_id
        kind = self.action.kind
        if kind is ActionKind.ENABLE:
            client.enable_stream(stream_id)
        elif kind is ActionKind.DISABLE:
            client.disable_stream(stream_id)
        elif kind is ActionKind.FINISH:
            client.finish_stream(stream_id)
        else:
            payload = self.action.payload or {}
            client.update_stream(
                stream_id, metadata=payload.get("metadata"), reconnect_window=payload.get("reconnectWindow")
            )

    def _failed_call(self, exc: FastPixError, calls: list[CallRecord]) -> Outcome:
        classification = classify(exc)
        if classification is not Classification.RETRYABLE:
            state, outcome = interpret_error(self.action.kind, classification, str(exc))
            return self._finish(
                state, outcome, calls, error=None if state is not ActionState.FAILED else str(exc)
            )
        now = self.rt.clock.now()
        decision = decide_retry(
            self.attempt, now, self.action.deadline_at, retry_after(exc), RetryPolicy(), self.rng
        )
        if isinstance(decision, GiveUp):
            return self._finish(ActionState.FAILED, decision.reason, calls, error=str(exc))
        with transaction(self.rt.engine) as session:
            self._record_calls(session, calls)
            kept = ledger.retry_later(
                session, self.action.id, self.token, next_attempt_at=decision.when, error=str(exc), now=now
            )
        if not kept:
            return Outcome(None, "lease lost: a newer attempt owns this action")
        return Outcome(None, f"retry at {decision.when.isoformat()}: {exc}")

    def _finish(
        self, state: ActionState, outcome: str, calls: list[CallRecord], error: str | None = None
    ) -> Outcome:
        now = self.rt.clock.now()
        with transaction(self.rt.engine) as session:
            self._record_calls(session, calls)
            kept = ledger.complete(
                session,
                self.action.id,
                self.token,
                state=state,
                outcome=outcome,
                error=error,
                api_response=None,
                now=now,
            )
            # Read in the same transaction: one commit per action, not two.
            ahead = now + timedelta(seconds=self.rt.settings.claim_ahead_seconds)
            follow_up = kept and ledger.has_due_on_stream(session, self.action.stream_id, ahead)
        if not kept:
            return Outcome(None, "lease lost: a newer attempt owns this action")
        if state in (ActionState.FAILED, ActionState.MISSED):
            alert_action(
                self.rt, self.action.id, self.action.stream_id, self.action.kind, state, error or outcome
            )
        return Outcome(state, outcome, follow_up)

    def _record_calls(self, session: Any, calls: list[CallRecord]) -> None:
        now = self.rt.clock.now()
        insert_events(
            session,
            [
                Event(
                    action_id=self.action.id,
                    stream_id=self.action.stream_id,
                    at=now,
                    actor=self.rt.identity,
                    event="api_call",
                    attempt=self.attempt,
                    http_method=call.method,
                    http_path=call.path,
                    http_status=call.status_code,
                    latency_ms=call.latency_ms,
                    detail=call.error,
                )
                for call in calls
            ],
        )


_DONE = {
    ActionKind.ENABLE: "enabled",
    ActionKind.DISABLE: "disabled",
    ActionKind.FINISH: "finished the broadcast",
    ActionKind.UPDATE: "applied metadata and settings",
}

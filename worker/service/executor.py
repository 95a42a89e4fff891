"""Execute claimed actions: check each stream, act only if needed, record what happened.

The dispatcher hands over actions in batches due within moments of each other. The executor takes over
the whole batch in one transaction, runs each action in a thread of its own (one hanging call delays
nothing else), and records the outcomes together, in as few transactions as the calls allow.

The lease is the fence: the executor first swaps the dispatcher's tokens for its own (a redelivered or
duplicated message finds its token gone and stops), and every later write names that token, so a
stale worker whose lease expired cannot overwrite a newer outcome.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from worker.domain.causes import FailureCause
from worker.domain.decisions import Call, NoOp, decide, interpret_error, paused
from worker.domain.metadata import MergeRecord, describe
from worker.domain.pauses import Pause
from worker.domain.retry import GiveUp, RetryPolicy, decide_retry
from worker.domain.types import ActionKind, ActionState
from worker.fastpix.client import CallRecord, FastPixClient
from worker.fastpix.errors import Classification, FastPixError, classify, retry_after
from worker.fastpix.models import LiveStream
from worker.service import budget, metrics
from worker.service.alerts import alert_action
from worker.service.calls import collecting_calls
from worker.service.context import action_scope
from worker.service.failures import PERMANENT_RULE, cause_of, gave_up_event
from worker.service.runtime import Runtime
from worker.service.sync import stream_name
from worker.store import ledger, merge_records, pauses, schedules
from worker.store.db import transaction
from worker.store.events import Event

log = logging.getLogger("onair.executor")

# The stream is read at most this long before the due instant, and the act is sent at the instant.
CHECK_AHEAD = timedelta(milliseconds=100)
# Outcomes are written together once the whole batch is done, or every this often while a slow call
# holds the rest of the batch back.
RECORD_EVERY_SECONDS = 0.5
# While a batch runs, its leases are renewed this many times per lease (every 2 s with the default
# 10 s lease): a live worker keeps its actions however slow the call, a dead one loses them a lease
# after its last renewal.
RENEWALS_PER_LEASE = 5


@dataclass(frozen=True)
class Outcome:
    state: ActionState | None  # None: still pending (retry), the message was stale, or it broke
    detail: str
    # Another action on the same stream is due now: dispatch it at once rather than on the next tick.
    follow_up: bool = False


STALE = Outcome(None, "stale message: the action is no longer held by this lease")
LEASE_LOST = "lease lost before acting: another worker owns the action"


def execute(rt: Runtime, action_id: int, lease_token: str, *, rng: random.Random | None = None) -> Outcome:
    [outcome] = execute_batch(rt, [(action_id, lease_token)], rng=rng)
    return outcome


def execute_batch(
    rt: Runtime, leases: Sequence[tuple[int, str]], *, rng: random.Random | None = None
) -> list[Outcome]:
    """Run each (action id, dispatcher's lease token); the outcomes in the same order."""
    token = secrets.token_hex(16)
    with transaction(rt.engine) as session:
        rows = ledger.take_over(session, leases, new_token=token, owner=rt.identity, now=rt.clock.now())
        # An operator's pause (onair streams pause), read with the take-over: those streams get no act.
        paused_streams = pauses.in_force(session, [row.stream_id for row in rows], rt.clock.now())
    rng = rng or random.Random()
    runs = {
        rt.action_pool.submit(run.go): run
        for run in (
            _Run(rt, _Snapshot.of(row), token, rng, paused_streams.get(row.stream_id))
            for row in sorted(rows, key=lambda r: r.next_attempt_at)
        )
    }
    outcomes: dict[int, Outcome] = {}
    pending: set[Future[_Result]] = set(runs)
    heartbeat = _Heartbeat(rt, token)
    while pending:
        done, pending = wait(pending, timeout=RECORD_EVERY_SECONDS)
        results = []
        for future in done:
            try:
                results.append(future.result())
            except Exception:  # a bug, not an API error: the lease runs out and the action is retried
                log.exception("action #%s broke the executor; its lease will expire", runs[future].action.id)
                outcomes[runs[future].action.id] = Outcome(None, "executor error: see the worker log")
        outcomes.update(_record(rt, token, results))
        heartbeat.beat([runs[future] for future in pending])
    # An action named twice in one message ran once: the second mention is a stale duplicate.
    first = {action_id: index for index, (action_id, _) in reversed(list(enumerate(leases)))}
    return [outcomes.get(i, STALE) if first[i] == n else STALE for n, (i, _) in enumerate(leases)]


class _Heartbeat:
    """Renews the leases of a batch's unfinished actions while they run (see RENEWALS_PER_LEASE). A
    renewal that finds an action's lease gone (reclaimed after a stall longer than the lease) tells
    its run, which then does not act: another worker owns the action now."""

    def __init__(self, rt: Runtime, token: str) -> None:
        self.rt = rt
        self.token = token
        self.lease = timedelta(seconds=rt.settings.lease_seconds)
        self.every = rt.settings.lease_seconds / RENEWALS_PER_LEASE
        self.next_at = time.monotonic() + self.every

    def beat(self, running: Sequence[_Run]) -> None:
        if not running or time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + self.every
        try:
            with transaction(self.rt.engine) as session:
                held = ledger.renew(
                    session,
                    [r.action.id for r in running],
                    self.token,
                    until=self.rt.clock.now() + self.lease,
                )
        except Exception as exc:  # the database may be back by the next beat, inside the lease
            log.warning(
                "lease renewal failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, self.every
            )
            return
        for run in running:
            if run.action.id not in held and not run.lost.is_set():
                log.warning("action #%s: lease lost to another worker; this run will not act", run.action.id)
                run.lost.set()


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
    api_response: str | None
    # An earlier attempt that sent its call and died before recording the answer (ledger.Held).
    in_doubt: int | None = None

    @classmethod
    def of(cls, row: ledger.Held) -> _Snapshot:
        return cls(
            id=row.id,
            stream_id=row.stream_id,
            kind=ActionKind(row.kind),
            due_at=row.due_at,
            deadline_at=row.deadline_at,
            next_attempt_at=row.next_attempt_at,
            attempts=row.attempts,
            payload=json.loads(row.payload) if row.payload else None,
            api_response=row.api_response,
            in_doubt=row.in_doubt,
        )


@dataclass(frozen=True)
class _Result:
    """What one run came to, before it is written: a finish, or a retry at `retry_at`."""

    action: _Snapshot
    state: ActionState | None
    detail: str
    calls: list[CallRecord] = field(default_factory=list)
    error: str | None = None
    retry_at: datetime | None = None
    # The stream as a PATCH answered: its name goes to the streams table.
    stream: LiveStream | None = None
    cause: FailureCause | None = None  # set when the action gives up: what failed, and the rule


def _wait_until(rt: Runtime, when: datetime) -> None:
    """Never act early: the message arrives a little before its instant (the dispatcher claims ahead and
    wakes the worker early, so the take-over and the check are done when the instant comes)."""
    delay = (when - rt.clock.now()).total_seconds()
    if delay > 0:
        time.sleep(min(delay, 30.0))


class _Run:
    def __init__(
        self, rt: Runtime, action: _Snapshot, token: str, rng: random.Random, pause: Pause | None = None
    ) -> None:
        self.rt = rt
        self.pause = pause
        self.action = action
        self.token = token
        self.rng = rng
        self.attempt = action.attempts + 1
        # Set by the heartbeat when this action's lease was taken back: do not act.
        self.lost = threading.Event()

    def go(self) -> _Result:
        a = self.action
        with action_scope(a.id, a.stream_id, a.kind.value, a.due_at, self.attempt):
            return self._go()

    def _go(self) -> _Result:
        # A message that waited long in the broker may be early by more than the wake-up margin:
        # check close to the instant, so the state read is fresh. A retry reads no earlier than its
        # time: that time may be a server's Retry-After, which covers every request, the read too.
        ahead = CHECK_AHEAD if self.action.attempts == 0 else timedelta(0)
        _wait_until(self.rt, self.action.next_attempt_at - ahead)
        now = self.rt.clock.now()
        if now >= self.action.deadline_at:
            return self._result(
                ActionState.MISSED,
                f"deadline {self.action.deadline_at:%Y-%m-%d %H:%M:%S} UTC passed before it could run",
                [],
            )
        if self.pause is not None:
            skip = paused(self.pause)
            return self._result(skip.state, skip.outcome, [])
        client = self.rt.client
        with collecting_calls() as calls, budget.waiting_until(self.action.deadline_at):
            try:
                record = self._merge_record()
                stream = client.get_stream(self.action.stream_id)
                decision = decide(
                    self.action.kind,
                    stream.status,
                    self.action.payload,
                    metadata=stream.metadata,
                    record=record,
                )
                if isinstance(decision, NoOp):
                    return self._result(decision.state, self._confirmed(decision.outcome), calls)
                merged = decision.record
                if merged is not None and merged != record and not self._note(merged):
                    return _Result(self.action, None, LEASE_LOST, calls)
                if not self._intend():
                    return _Result(self.action, None, LEASE_LOST, calls)
                _wait_until(self.rt, self.action.next_attempt_at)
                if self.lost.is_set():
                    return _Result(self.action, None, LEASE_LOST, calls)
                answer = self._call(client, decision)
            except FastPixError as exc:
                return self._failed_call(exc, calls)
            done = _DONE[self.action.kind]
            if decision.payload and "metadata" in decision.payload:
                done += f"; {describe(stream.metadata or {}, decision.payload['metadata'])}"
            return _Result(self.action, ActionState.SUCCEEDED, done, calls, stream=answer)

    def _merge_record(self) -> MergeRecord | None:
        """What the broadcast's merge stored: this UPDATE's own (an earlier attempt), or, for a RESTORE,
        its UPDATE's."""
        if self.action.kind is ActionKind.UPDATE:
            return MergeRecord.from_json(self.action.api_response)
        if self.action.kind is not ActionKind.RESTORE:
            return None
        update_key = (self.action.payload or {}).get("merged_by")
        if not isinstance(update_key, str):
            return None
        with transaction(self.rt.engine, immediate=False) as session:
            return MergeRecord.from_json(merge_records.merge_record(session, update_key))

    def _note(self, record: MergeRecord) -> bool:
        """Store the merge before sending it: a worker that dies mid-call must not lose the before-values."""
        with transaction(self.rt.engine) as session:
            return ledger.note_api_response(
                session, self.action.id, self.token, record.to_json(), now=self.rt.clock.now()
            )

    def _intend(self) -> bool:
        """Write-ahead: record, and commit, that this attempt is about to send its call, so the history
        holds every act that may have reached FastPix even if this worker dies before the answer is
        recorded. Written when the stream was read (just before the instant, so it costs the act no
        time); False when the lease is gone (the call must not leave)."""
        if self.lost.is_set():
            return False
        a = self.action
        detail = f"{_VERB[a.kind]} the stream at {a.next_attempt_at.isoformat()}; its answer is recorded next"
        with transaction(self.rt.engine) as session:
            return ledger.record_intent(
                session,
                a.id,
                self.token,
                attempt=self.attempt,
                detail=detail,
                now=self.rt.clock.now(),
                actor=self.rt.identity,
            )

    def _confirmed(self, outcome: str) -> str:
        """A run that finds the work done after an earlier attempt sent its call and died says so."""
        sent = self.action.in_doubt
        if sent is None:
            return outcome
        return (
            f"{outcome}: done by attempt {sent} (its worker died after sending), "
            f"confirmed by attempt {self.attempt}"
        )

    def _call(self, client: FastPixClient, decision: Call) -> LiveStream | None:
        stream_id = self.action.stream_id
        kind = self.action.kind
        if kind is ActionKind.ENABLE:
            client.enable_stream(stream_id)
        elif kind is ActionKind.DISABLE:
            client.disable_stream(stream_id)
        elif kind is ActionKind.FINISH:
            client.finish_stream(stream_id)
        else:
            payload = decision.payload or {}
            return client.update_stream(
                stream_id, metadata=payload.get("metadata"), reconnect_window=payload.get("reconnectWindow")
            )
        return None

    def _failed_call(self, exc: FastPixError, calls: list[CallRecord]) -> _Result:
        classification = classify(exc)
        if classification is not Classification.RETRYABLE:
            state, outcome = interpret_error(self.action.kind, classification, str(exc))
            if state is not ActionState.FAILED:
                return self._result(state, outcome, calls)
            # The domain's own wording, when it has one (an update refused on a disabled stream).
            cause = cause_of(exc, self.attempt, PERMANENT_RULE if outcome == str(exc) else outcome)
            return _Result(self.action, state, cause.summary, calls, str(exc), cause=cause)
        now = self.rt.clock.now()
        decision = decide_retry(
            self.attempt, now, self.action.deadline_at, retry_after(exc), RetryPolicy(), self.rng
        )
        if isinstance(decision, GiveUp):
            cause = cause_of(exc, self.attempt, decision.reason)
            return _Result(self.action, ActionState.FAILED, cause.summary, calls, str(exc), cause=cause)
        return _Result(
            self.action, None, f"retry at {decision.when.isoformat()}: {exc}", calls, str(exc), decision.when
        )

    def _result(
        self, state: ActionState, outcome: str, calls: list[CallRecord], error: str | None = None
    ) -> _Result:
        return _Result(self.action, state, outcome, calls, error)


def _record(rt: Runtime, token: str, results: Sequence[_Result]) -> dict[int, Outcome]:
    """Write the results in one transaction; then alert, count and say what happened to each."""
    if not results:
        return {}
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        ledger.insert_events(session, [_call_event(rt, r, call, now) for r in results for call in r.calls])
        # In stream id order, as sync_streams locks them: PostgreSQL never sees the two wait on each other.
        answered = sorted((r.stream for r in results if r.stream is not None), key=lambda s: s.stream_id)
        schedules.upsert_streams(
            session, [(s.stream_id, stream_name(s), s.status) for s in answered], seen_at=now
        )
        kept = ledger.complete_many(
            session,
            [
                ledger.Finish(r.action.id, token, r.state, r.detail, r.error)
                for r in results
                if r.state is not None
            ],
            now=now,
        )
        gave_up = [
            (r.action.id, r.action.stream_id, r.cause) for r in results if r.cause and r.action.id in kept
        ]
        ledger.insert_events(session, [gave_up_event(rt.identity, *g, now) for g in gave_up])
        for r in results:
            if r.retry_at is not None and ledger.retry_later(
                session, r.action.id, token, next_attempt_at=r.retry_at, error=r.error or r.detail, now=now
            ):
                kept.add(r.action.id)
        # Read in the same transaction: one commit per batch, not two.
        ahead = now + timedelta(seconds=rt.settings.claim_ahead_seconds)
        busy = ledger.streams_with_due(session, [r.action.stream_id for r in results], ahead)
    outcomes = {}
    for r in results:
        a = r.action
        if a.id not in kept:
            outcomes[a.id] = Outcome(None, "lease lost: a newer attempt owns this action")
            continue
        if r.state in (ActionState.FAILED, ActionState.MISSED):
            alert_action(rt, a.id, a.stream_id, a.kind, r.state, r.error or r.detail, r.cause)
        metrics.action_outcome(a.kind.value, r.state, r.detail)
        outcomes[a.id] = Outcome(r.state, r.detail, r.state is not None and a.stream_id in busy)
    return outcomes


def _call_event(rt: Runtime, result: _Result, call: CallRecord, now: datetime) -> Event:
    return Event(
        action_id=result.action.id,
        stream_id=result.action.stream_id,
        at=call.started_at or now,
        actor=rt.identity,
        event="api_call",
        attempt=result.action.attempts + 1,
        http_method=call.method,
        http_path=call.path,
        http_status=call.status_code,
        latency_ms=call.latency_ms,
        detail=call.error,
    )


_VERB = {
    ActionKind.ENABLE: "enabling",
    ActionKind.DISABLE: "disabling",
    ActionKind.FINISH: "finishing the broadcast on",
    ActionKind.UPDATE: "updating metadata and settings of",
    ActionKind.RESTORE: "putting back the metadata of",
}

_DONE = {
    ActionKind.ENABLE: "enabled",
    ActionKind.DISABLE: "disabled",
    ActionKind.FINISH: "finished the broadcast",
    ActionKind.UPDATE: "applied metadata and settings",
    ActionKind.RESTORE: "put back the stream's metadata",
}

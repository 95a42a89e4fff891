"""Execute claimed actions: check each stream, act only if needed, record what happened.

The dispatcher hands over actions in batches due within moments of each other. The executor takes over
the whole batch in one transaction, runs each action's check (the state read, before the instant) and
its act (on the instant) on threads of the action pool (one hanging call delays nothing else), commits
the write-ahead records of the runs that reach their call together in one transaction, and records the
outcomes together, in as few transactions as the calls allow. Each run sends the call `decide` chose
and ends as one `Attempt` (worker.domain.attempts).

The lease is the fence: the executor first swaps the dispatcher's tokens for its own (a redelivered or
duplicated message finds its token gone and stops), and every later write names that token, so a
stale worker whose lease expired cannot overwrite a newer outcome.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from worker.domain.attempts import Attempt, AttemptKind
from worker.domain.causes import FailureCause
from worker.domain.decisions import Call, Endpoint, NoOp, decide, interpret_error, paused
from worker.domain.metadata import MergeRecord, describe
from worker.domain.pauses import Pause
from worker.domain.retry import GiveUp, RetryPolicy, decide_retry
from worker.domain.types import ActionKind, ActionState
from worker.fastpix.client import CallRecord, FastPixClient
from worker.fastpix.errors import Classification, FastPixError, classify, retry_after
from worker.fastpix.models import LiveStream
from worker.service import budget, metrics
from worker.service.alerts import alert_action, alert_early_act
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
# The read and the write-ahead must be done by then: a read takes milliseconds from a nearby FastPix
# and tens over the internet, and the reads of a hundred slots ending on one minute queue at FastPix
# (at 100 ms, the last of 60 reads of one instant arrived 90 ms after it and their finishes up to
# 210 ms late). A state 300 ms old is still fresh against an encoder's seconds.
CHECK_AHEAD = timedelta(milliseconds=300)
# A step of a run (its check, then its act) is handed to a pool thread this long before its time (a
# thread's start is not instant). Between its check and its act a run holds no thread: held asleep
# until the instant, the first 32 runs of a burst took every thread of the process, and the others
# read their streams only after the instant.
START_AHEAD = timedelta(milliseconds=50)
# Outcomes are written together once the whole batch is done, or this long after the first of them
# while a slow call holds the rest of the batch back.
RECORD_EVERY_SECONDS = 0.5
# While a batch runs, its leases are renewed this many times per lease (every 2 s with the default
# 10 s lease): a live worker keeps its actions however slow the call, a dead one loses them a lease
# after its last renewal.
RENEWALS_PER_LEASE = 5
# A wait for an instant wakes at least this often to read the clock again (and to notice a lost lease).
WAIT_SLICE_SECONDS = 5.0
# A call leaves only while at least this share of a lease is left of the lease its run knows it holds;
# with less (the process stalled: frozen, swapped out), the run renews its lease first, and does not
# send if another worker has taken the action meanwhile. Half a lease also covers clock skew between
# machines: the worker that reclaims judges the expiry by its own clock.
SEND_MARGIN_SHARE = 0.5


def execute_batch(
    rt: Runtime, leases: Sequence[tuple[int, str]], *, rng: random.Random | None = None
) -> list[Attempt]:
    """Run each (action id, dispatcher's lease token); what each attempt came to, in the same order."""
    token = secrets.token_hex(16)
    with transaction(rt.engine) as session:
        rows = ledger.take_over(session, leases, new_token=token, owner=rt.identity, now=rt.clock.now())
        # An operator's pause (onair streams pause), read with the take-over: those streams get no act.
        paused_streams = pauses.in_force(session, [row.stream_id for row in rows], rt.clock.now())
    rng = rng or random.Random()
    intents = _Intents(rt, token)
    ordered = [
        _Run(rt, _Snapshot.of(row), token, rng, intents, paused_streams.get(row.stream_id))
        for row in sorted(rows, key=lambda r: r.next_attempt_at)
    ]
    reads = rt.read_schedule.plan(
        [(run.check_at, run.action.attempts == 0) for run in ordered], rt.clock.now()
    )
    steps = _Steps()
    for run, at in zip(ordered, reads, strict=True):
        run.check_at = at
        steps.add(run.check_at, run, run.check)
    runs: dict[Future[Attempt | None], _Run] = {}
    attempts: dict[int, Attempt] = {}
    pending: set[Future[Attempt | None]] = set()
    finished: list[tuple[_Run, Attempt]] = []
    record_by: datetime | None = None
    heartbeat = _Heartbeat(rt, token)
    while pending or steps:
        for run, step in steps.due(rt.clock.now() + START_AHEAD):
            future = rt.action_pool.submit(step)
            runs[future] = run
            pending.add(future)
        # Wake for the next step, the next write of outcomes, or any step done (a check done may
        # have an act to hand over on its instant, whatever else is still running).
        now = rt.clock.now()
        wake = [now + timedelta(seconds=RECORD_EVERY_SECONDS)]
        next_step = steps.next_at()
        if next_step is not None:
            wake.append(next_step - START_AHEAD)
        if record_by is not None:
            wake.append(record_by)
        pause = max(0.0, (min(wake) - now).total_seconds())
        if pending:
            done, pending = wait(pending, timeout=pause, return_when=FIRST_COMPLETED)
        else:
            done = set()
            time.sleep(pause)
        for future in done:
            run = runs.pop(future)
            try:
                attempt = future.result()
            except Exception:  # a bug, not an API error: the lease runs out and the action is retried
                log.exception("action #%s broke the executor; its lease will expire", run.action.id)
                attempts[run.action.id] = Attempt.broke(run.action.id)
                continue
            if attempt is None:  # checked, its write-ahead committed: the act waits for its instant
                steps.add(run.action.next_attempt_at, run, run.act)
            else:
                finished.append((run, attempt))
        if finished:
            record_by = record_by or rt.clock.now() + timedelta(seconds=RECORD_EVERY_SECONDS)
            if not (pending or steps) or rt.clock.now() >= record_by:
                attempts.update(_record(rt, token, finished))
                finished, record_by = [], None
        heartbeat.beat([runs[future] for future in pending] + steps.runs())
    # An action named twice in one message ran once: the second mention is a stale duplicate.
    first = {action_id: index for index, (action_id, _) in reversed(list(enumerate(leases)))}
    return [
        attempts.get(i, Attempt.stale(i)) if first[i] == n else Attempt.stale(i)
        for n, (i, _) in enumerate(leases)
    ]


class _Steps:
    """A batch's steps waiting for a pool thread (each run's check, then its act), in the order of
    their times. They wait here, in the batch's thread: a step handed over at once would hold a pool
    thread asleep until its time, and under a steady stream of actions later steps queued for a thread
    past their instant."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, _Run, Callable[[], Attempt | None]]] = []
        self._order = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._heap)

    def add(self, at: datetime, run: _Run, step: Callable[[], Attempt | None]) -> None:
        heapq.heappush(self._heap, (at, next(self._order), run, step))

    def next_at(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def due(self, by: datetime) -> list[tuple[_Run, Callable[[], Attempt | None]]]:
        """Take the steps whose time is `by` or before."""
        taken = []
        while self._heap and self._heap[0][0] <= by:
            _, _, run, step = heapq.heappop(self._heap)
            taken.append((run, step))
        return taken

    def runs(self) -> list[_Run]:
        return [run for _, _, run, _ in self._heap]


class _Heartbeat:
    """Renews the leases of a batch's unfinished actions while they run (see RENEWALS_PER_LEASE). A
    renewal that finds an action's lease gone (reclaimed after a stall longer than the lease) tells
    its run, which then does not act: another worker owns the action now."""

    def __init__(self, rt: Runtime, token: str) -> None:
        self.rt = rt
        self.token = token
        self.every = rt.settings.lease_seconds / RENEWALS_PER_LEASE
        self.next_at = time.monotonic() + self.every

    def beat(self, running: Sequence[_Run]) -> None:
        if not running or time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + self.every
        try:
            _renew_leases(self.rt, self.token, running)
        except Exception as exc:  # the database may be back by the next beat, inside the lease
            log.warning(
                "lease renewal failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, self.every
            )


def _renew_leases(rt: Runtime, token: str, runs: Sequence[_Run]) -> None:
    """Push the runs' leases a lease ahead; a run whose action was taken by another worker is told
    (`lost`), and does not act."""
    until = rt.clock.now() + timedelta(seconds=rt.settings.lease_seconds)
    with transaction(rt.engine) as session:
        held = ledger.renew(session, [r.action.id for r in runs], token, until=until)
    for run in runs:
        if run.action.id in held:
            run.lease_until = max(run.lease_until, until)
        elif not run.lost.is_set():
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
    lease_expires_at: datetime
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
            lease_expires_at=row.lease_expires_at,
            in_doubt=row.in_doubt,
        )


def _wait_until(rt: Runtime, when: datetime, lost: threading.Event) -> None:
    """Never act early: the message arrives a little before its instant (the dispatcher claims ahead and
    wakes the worker early, so the take-over and the check are done when the instant comes), or, when
    it waited in the broker, long before it. Sleeps in slices until the clock says the instant has
    come (a sleep may end early, and the clock is the judge), or until the lease is lost."""
    while not lost.is_set():
        delay = (when - rt.clock.now()).total_seconds()
        if delay <= 0:
            return
        lost.wait(min(delay, WAIT_SLICE_SECONDS))


class _Run:
    """One attempt at one action, in two steps each on a thread of the action pool: the check before
    the instant, the act on it. What it sent and read is kept on it (`calls`, `answer`) for the
    batch's record."""

    def __init__(
        self,
        rt: Runtime,
        action: _Snapshot,
        token: str,
        rng: random.Random,
        intents: _Intents,
        pause: Pause | None = None,
    ) -> None:
        self.rt = rt
        self.pause = pause
        self.action = action
        self.token = token
        self.rng = rng
        self.intents = intents
        self.attempt = action.attempts + 1
        # Set by the heartbeat when this action's lease was taken back: do not act.
        self.lost = threading.Event()
        # When the lease this run holds runs out, as far as it knows (the heartbeat pushes it out).
        self.lease_until = action.lease_expires_at
        self.calls: list[CallRecord] = []
        # The stream as a PATCH answered: its name goes to the streams table.
        self.answer: LiveStream | None = None
        # What the check read and chose to send at the instant.
        self.stream: LiveStream | None = None
        self.decision: Call | None = None
        # When it reads the stream (the process's read schedule may bring it forward). A message that
        # waited long in the broker may be early by more than the wake-up margin: read close to the
        # instant, so the state read is fresh. A retry reads no earlier than its time: that time may be
        # a server's Retry-After, which covers every request, the read too.
        self.check_at = action.next_attempt_at - (CHECK_AHEAD if action.attempts == 0 else timedelta(0))

    @contextmanager
    def _scope(self) -> Iterator[None]:
        """Where a step runs: the action named in the logs, its calls collected for the history, the
        request budget waited for no later than the deadline."""
        a = self.action
        with (
            action_scope(a.id, a.stream_id, a.kind.value, a.due_at, self.attempt),
            collecting_calls(self.calls),
            budget.waiting_until(a.deadline_at),
        ):
            yield

    def _done(
        self, state: ActionState, detail: str, error: str | None = None, cause: FailureCause | None = None
    ) -> Attempt:
        return Attempt.done(self.action.id, state, detail, error, cause)

    def check(self) -> Attempt | None:
        """Read the stream and decide, before the instant. None: the call is ready, its write-ahead
        committed, and leaves at the instant (`act`); otherwise what the attempt came to."""
        with self._scope():
            outcome = self._check()
        if outcome is None and self.rt.clock.now() + START_AHEAD >= self.action.next_attempt_at:
            return self.act()  # its instant is here: no hand-off to another thread
        return outcome

    def _check(self) -> Attempt | None:
        a = self.action
        _wait_until(self.rt, self.check_at, self.lost)
        if self.lost.is_set():
            return Attempt.lease_lost(a.id)
        if self.rt.clock.now() >= a.deadline_at:
            return self._done(
                ActionState.MISSED,
                f"deadline {a.deadline_at:%Y-%m-%d %H:%M:%S} UTC passed before it could run",
            )
        if self.pause is not None:
            skip = paused(self.pause)
            return self._done(skip.state, skip.outcome)
        try:
            record = self._merge_record()
            stream = self.rt.client.get_stream(a.stream_id)
            decision = decide(a.kind, stream.status, a.payload, metadata=stream.metadata, record=record)
            if isinstance(decision, NoOp):
                return self._done(decision.state, self._confirmed(decision.outcome))
            merged = decision.record
            if merged is not None and merged != record and not self._note(merged):
                return Attempt.lease_lost(a.id)
            if not self._intend():
                return Attempt.lease_lost(a.id)
        except FastPixError as exc:
            return self._failed_call(exc)
        self.stream, self.decision = stream, decision
        return None

    def act(self) -> Attempt:
        """Send the call `check` chose, on the instant."""
        a = self.action
        assert self.decision is not None and self.stream is not None, "act before a check chose a call"
        with self._scope():
            _wait_until(self.rt, a.next_attempt_at, self.lost)
            if not self._holds_lease():
                return Attempt.lease_lost(a.id)
            note_act_sent(self.rt, a.id, a.stream_id, a.kind, self.attempt, a.due_at, a.next_attempt_at)
            try:
                self.answer = send(self.rt.client, a.stream_id, self.decision)
            except FastPixError as exc:
                return self._failed_call(exc)
        done = _DONE[a.kind]
        if self.decision.payload and "metadata" in self.decision.payload:
            done += f"; {describe(self.stream.metadata or {}, self.decision.payload['metadata'])}"
        return self._done(ActionState.SUCCEEDED, done)

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
        return self.intents.write(self, detail)

    def _holds_lease(self) -> bool:
        """The fence right before the call leaves. The heartbeat notices a lost lease only at its next
        beat: a process that stalled past its lease (frozen, swapped out) and wakes at its instant would
        send what the worker that reclaimed the action may already have sent. So with less than
        SEND_MARGIN_SHARE of a lease left, the run renews its lease itself, and sends only if the action
        is still its own."""
        lease = timedelta(seconds=self.rt.settings.lease_seconds)
        if not self.lost.is_set() and self.rt.clock.now() + lease * SEND_MARGIN_SHARE >= self.lease_until:
            _renew_leases(self.rt, self.token, [self])
        return not self.lost.is_set()

    def _confirmed(self, outcome: str) -> str:
        """A run that finds the work done after an earlier attempt sent its call and died says so."""
        sent = self.action.in_doubt
        if sent is None:
            return outcome
        return (
            f"{outcome}: done by attempt {sent} (its worker died after sending), "
            f"confirmed by attempt {self.attempt}"
        )

    def _failed_call(self, exc: FastPixError) -> Attempt:
        a = self.action
        classification = classify(exc)
        if classification is not Classification.RETRYABLE:
            refused = interpret_error(a.kind, classification, str(exc))
            if refused.state is not ActionState.FAILED:
                return self._done(refused.state, refused.outcome)
            # The domain's own wording, when it has one (an update refused on a disabled stream).
            rule = PERMANENT_RULE if refused.outcome == str(exc) else refused.outcome
            cause = cause_of(exc, self.attempt, rule)
            return self._done(ActionState.FAILED, cause.summary, str(exc), cause)
        now = self.rt.clock.now()
        decision = decide_retry(self.attempt, now, a.deadline_at, retry_after(exc), RetryPolicy(), self.rng)
        if isinstance(decision, GiveUp):
            cause = cause_of(exc, self.attempt, decision.reason)
            return self._done(ActionState.FAILED, cause.summary, str(exc), cause)
        return Attempt.retry(a.id, decision.when, str(exc))


class _Intent:
    def __init__(self, run: _Run, detail: str) -> None:
        self.run = run
        self.detail = detail
        self.done = threading.Event()
        self.lead = False  # woken to write the next group rather than with its result
        self.written = False
        self.error: BaseException | None = None

    def result(self) -> bool:
        if self.error is not None:
            raise self.error
        return self.written


class _Intents:
    """The write-ahead `sending` events of one batch, committed in groups: the runs that reach their
    intent while a group is being written wait, and the first of them writes them all in the next
    transaction (one transaction per group, not per action). Each run still sends its call only once
    its own event is committed; a run whose lease is gone gets False, and its call never leaves."""

    def __init__(self, rt: Runtime, token: str) -> None:
        self.rt = rt
        self.token = token
        self._lock = threading.Lock()
        self._waiting: list[_Intent] = []
        self._writing = False

    def write(self, run: _Run, detail: str) -> bool:
        intent = _Intent(run, detail)
        with self._lock:
            self._waiting.append(intent)
            lead = not self._writing
            self._writing = True
        if not lead:
            intent.done.wait()
            if not intent.lead:
                return intent.result()
        with self._lock:
            group, self._waiting = self._waiting, []
        try:
            self._commit(group)
        except Exception as exc:  # each run of the group breaks as it would alone
            for member in group:
                member.error = exc
        finally:
            with self._lock:
                if self._waiting:
                    self._waiting[0].lead = True
                    self._waiting[0].done.set()
                else:
                    self._writing = False
            for member in group:
                member.done.set()
        return intent.result()

    def _commit(self, group: Sequence[_Intent]) -> None:
        live = [member for member in group if not member.run.lost.is_set()]
        with transaction(self.rt.engine) as session:
            written = ledger.record_intents(
                session,
                self.token,
                [ledger.Intent(m.run.action.id, m.run.attempt, m.detail) for m in live],
                now=self.rt.clock.now(),
                actor=self.rt.identity,
            )
        for member in live:
            member.written = member.run.action.id in written


def note_act_sent(
    rt: Runtime,
    action_id: int,
    stream_id: str,
    kind: ActionKind,
    attempt: int,
    due_at: datetime,
    instant: datetime,
    sent_at: datetime | None = None,
) -> float:
    """An act call leaves now (or at `sent_at`) for its `instant`: count its lateness, signed. One that
    leaves before its instant breaks onair's promise: it is counted apart and raises an alert. The
    lateness from the instant, in seconds (negative: early)."""
    sent_at = sent_at or rt.clock.now()
    metrics.act_sent(kind.value, (sent_at - due_at).total_seconds(), first=attempt == 1)
    lateness = (sent_at - instant).total_seconds()
    if lateness < 0:
        metrics.early_act(kind.value)
        alert_early_act(rt, action_id, stream_id, kind, attempt, instant, lateness)
    return lateness


def send(client: FastPixClient, stream_id: str, call: Call) -> LiveStream | None:
    """Send the call `decide` chose, to its endpoint; the stream as a PATCH answers it."""
    if call.endpoint is Endpoint.UPDATE:
        payload = call.payload or {}
        return client.update_stream(
            stream_id, metadata=payload.get("metadata"), reconnect_window=payload.get("reconnectWindow")
        )
    _PUT[call.endpoint](client, stream_id)
    return None


_PUT: dict[Endpoint, Callable[[FastPixClient, str], None]] = {
    Endpoint.ENABLE: FastPixClient.enable_stream,
    Endpoint.DISABLE: FastPixClient.disable_stream,
    Endpoint.FINISH: FastPixClient.finish_stream,
}


def _record(rt: Runtime, token: str, finished: Sequence[tuple[_Run, Attempt]]) -> dict[int, Attempt]:
    """Write the attempts in one transaction; then alert, count and say what came of each."""
    if not finished:
        return {}
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        ledger.insert_events(
            session, [_call_event(rt, run, call, now) for run, _ in finished for call in run.calls]
        )
        # In stream id order, as sync_streams locks them: PostgreSQL never sees the two wait on each other.
        answered = sorted(
            (run.answer for run, _ in finished if run.answer is not None), key=lambda s: s.stream_id
        )
        schedules.upsert_streams(
            session, [(s.stream_id, stream_name(s), s.status) for s in answered], seen_at=now
        )
        kept = ledger.record_attempts(session, token, [attempt for _, attempt in finished], now=now)
        gave_up = [
            gave_up_event(rt.identity, a.action_id, run.action.stream_id, a.cause, now)
            for run, a in finished
            if a.cause is not None and a.action_id in kept
        ]
        ledger.insert_events(session, gave_up)
        # Read in the same transaction: one commit per batch, not two.
        ahead = now + timedelta(seconds=rt.settings.claim_ahead_seconds)
        busy = ledger.streams_with_due(session, [run.action.stream_id for run, _ in finished], ahead)
    attempts = {}
    for run, attempt in finished:
        a = run.action
        if attempt.written and attempt.action_id not in kept:
            attempt = attempt.refused()
        elif attempt.kind is AttemptKind.DONE:
            attempt = attempt.following(a.stream_id in busy)
            if attempt.state in (ActionState.FAILED, ActionState.MISSED):
                alert_action(
                    rt,
                    a.id,
                    a.stream_id,
                    a.kind,
                    attempt.state,
                    attempt.error or attempt.detail,
                    attempt.cause,
                )
        elif attempt.kind is AttemptKind.RETRY:
            attempt = attempt.following(a.stream_id in busy)
        metrics.attempt(a.kind.value, attempt)
        attempts[a.id] = attempt
    return attempts


def _call_event(rt: Runtime, run: _Run, call: CallRecord, now: datetime) -> Event:
    return Event(
        action_id=run.action.id,
        stream_id=run.action.stream_id,
        at=call.started_at or now,
        actor=rt.identity,
        event="api_call",
        attempt=run.attempt,
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

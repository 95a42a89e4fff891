"""Delivering webhook events in the background, as FastPix does: signed, retried, logged.

Events arrive from the state (under its lock) through `submit`, which only hands them to an asyncio
loop in a thread of its own, so an API answer never waits on a delivery. Each stream has one
queue worked in order: a retried event holds back that stream's later events, not other streams'
(at most 100 deliveries are in flight at once).
A non-2xx answer or a connection error is retried after 0.5 s, 1 s, 2 s, 4 s (`max_attempts` 5 in
all, `attempts` in the body counting up); then the event is given up and logged as such.

Every attempt is logged (`log()`, shown by GET /_sim/webhooks): event id, type, stream, kind,
attempt, HTTP status (0 when the connection failed), time. The process log names events and
streams only: never the secret, the URL's query or a body (bodies carry stream keys).

On demand (`send_now`), one attempt each, no retry: a duplicate (an event already sent, same id and
same bytes), a stale event (a new id, an older `created_at`, an earlier status), and an event
signed with the wrong key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import httpx

from worker.clock import Clock
from worker.simulator.model import Change, iso_micro
from worker.simulator.webhook_events import SIGNATURE_HEADER, Event, Target, sign

logger = logging.getLogger(__name__)
Sent = concurrent.futures.Future[dict[str, Any]]  # an on-demand attempt: its delivery-log entry


class NothingToSend(LookupError):
    """An on-demand send refers to an event or stream the simulator has not sent anything for."""


class WebhooksOff(RuntimeError):
    """An on-demand send while no webhook URL is configured."""


class WebhookSender:
    def __init__(
        self,
        target: Target | None,
        clock: Clock,
        *,
        max_attempts: int = 5,
        first_backoff: float = 0.5,
        timeout: float = 5.0,
        log_cap: int = 10_000,
        kept_events: int = 2_000,
    ) -> None:
        self.target = target  # None: webhooks off; set with configure()
        self._initial_target = target
        self._clock = clock
        self._max_attempts = max_attempts
        self._first_backoff = first_backoff
        self._timeout = timeout
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=log_cap)
        self._next_seq = 1
        # Events as last sent (id -> (event, body)), oldest first, for duplicates and stale events.
        self._sent: OrderedDict[str, tuple[Event, bytes]] = OrderedDict()
        self._kept_events = kept_events
        self._queues: dict[str, deque[Event]] = {}  # touched only on the loop's thread
        self._workers: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopped:
                return
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(ready,), name="simulator-webhooks", daemon=True
            )
            self._thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # At most 100 deliveries at once; waiting for one of them to finish is not a failed attempt.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout, pool=None), limits=httpx.Limits(max_connections=100)
        )
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._client.aclose())
            loop.close()

    def stop(self) -> None:
        """Stop delivering; events still queued or being retried are dropped."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def cancel_all() -> None:
            current = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not current:
                    task.cancel()
            loop.stop()

        asyncio.run_coroutine_threadsafe(cancel_all(), loop)
        thread.join(timeout=5)

    def configure(self, target: Target | None) -> None:
        """Send to another receiver (or, with None, stop sending; events being retried are dropped)."""
        self.target = target

    @property
    def enabled(self) -> bool:
        return self.target is not None

    # --- scheduled events --------------------------------------------------------------------

    def submit(self, stream_id: str, changes: list[Change]) -> None:
        """Queue one stream's changes for delivery, in order; returns at once (thread-safe)."""
        if self.target is None:
            return
        if self._loop is None:
            self.start()
        loop = self._loop
        if loop is None or self._stopped:
            return
        events = [Event.of(stream_id, change) for change in changes]
        with self._lock:
            self._pending += len(events)
        loop.call_soon_threadsafe(self._enqueue, events)

    def _enqueue(self, events: list[Event]) -> None:
        for event in events:
            queue = self._queues.get(event.stream_id)
            if queue is None:
                queue = self._queues[event.stream_id] = deque()
                worker = asyncio.get_running_loop().create_task(self._work(event.stream_id, queue))
                self._workers.add(worker)
                worker.add_done_callback(self._workers.discard)
            queue.append(event)

    async def _work(self, stream_id: str, queue: deque[Event]) -> None:
        while queue:
            await self._deliver(queue[0])
            queue.popleft()
            with self._lock:
                self._pending -= 1
        del self._queues[stream_id]

    async def _deliver(self, event: Event) -> None:
        for attempt in range(1, self._max_attempts + 1):
            target = self.target
            if target is None:
                return
            body = event.body(target, attempt)
            entry = await self._post(event, "event", attempt, body, sign(target.key, body))
            if 200 <= entry["http_status"] < 300:
                return
            if attempt < self._max_attempts:
                await asyncio.sleep(self._first_backoff * 2 ** (attempt - 1))
        logger.error(
            "webhook %s (%s) for stream %s given up after %d attempts",
            event.event_id,
            event.type,
            event.stream_id,
            self._max_attempts,
        )

    async def _post(
        self, event: Event, kind: str, attempt: int, body: bytes, signature: str
    ) -> dict[str, Any]:
        """One attempt; returns its log entry."""
        assert self._client is not None
        url = self.target.url if self.target is not None else None
        if kind == "event":
            with self._lock:
                self._remember(event, body)
        status: int = 0
        error: str | None = "webhooks turned off"
        if url is not None:
            try:
                response = await self._client.post(
                    url,
                    content=body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
                )
                status, error = response.status_code, None
            except httpx.HTTPError as exc:
                error = type(exc).__name__
        if not 200 <= status < 300:
            logger.warning(
                "webhook %s (%s) for stream %s, attempt %d: %s",
                event.event_id,
                event.type,
                event.stream_id,
                attempt,
                error or f"HTTP {status}",
            )
        with self._lock:
            entry = {
                "seq": self._next_seq,
                "time": iso_micro(self._clock.now()),
                "event_id": event.event_id,
                "type": event.type,
                "stream_id": event.stream_id,
                "kind": kind,
                "attempt": attempt,
                "http_status": status,
                "error": error,
            }
            self._log.append(entry)
            self._next_seq += 1
        return dict(entry)

    def _remember(self, event: Event, body: bytes) -> None:
        self._sent[event.event_id] = (event, body)
        self._sent.move_to_end(event.event_id)
        while len(self._sent) > self._kept_events:
            self._sent.popitem(last=False)

    # --- on demand ---------------------------------------------------------------------------

    def duplicate(self, event_id: str | None = None, stream_id: str | None = None) -> Sent:
        """Send an already-sent event again, byte for byte (the last one sent, or the one named)."""
        target = self._target()
        with self._lock:
            event, body = self._find(event_id, stream_id)
        return self._send_now(self._post(event, "duplicate", 1, body, sign(target.key, body)))

    def stale(self, stream_id: str, event: str = "idle", age: float = 60.0) -> Sent:
        """A new event for `event` dated `age` s before the newest event sent for the stream."""
        target = self._target()
        with self._lock:
            candidates = [e for e, _ in self._sent.values() if e.stream_id == stream_id]
        if not candidates:
            raise NothingToSend(f"no event has been sent for stream {stream_id}")
        newest = max(candidates, key=lambda e: e.created_at)
        old = newest.stale(event, newest.created_at - timedelta(seconds=age))
        body = old.body(target, 1)
        return self._send_now(self._post(old, "stale", 1, body, sign(target.key, body)))

    def bad_signature(self, stream_id: str, event: str, data: dict[str, Any]) -> Sent:
        """A fresh event signed with a key that is not the secret."""
        target = self._target()
        bad = Event.of(stream_id, Change(event, self._clock.now(), data))
        body = bad.body(target, 1)
        return self._send_now(self._post(bad, "bad_signature", 1, body, sign(os.urandom(32), body)))

    def _target(self) -> Target:
        target = self.target
        if target is None:
            raise WebhooksOff("webhooks are off: give the simulator a webhook URL and secret")
        return target

    def last_data(self, stream_id: str) -> dict[str, Any] | None:
        with self._lock:
            for event, _ in reversed(self._sent.values()):
                if event.stream_id == stream_id:
                    return event.data
        return None

    def _find(self, event_id: str | None, stream_id: str | None) -> tuple[Event, bytes]:
        if event_id is not None:
            if event_id not in self._sent:
                raise NothingToSend(f"no sent event has id {event_id}")
            return self._sent[event_id]
        for event, body in reversed(self._sent.values()):
            if stream_id is None or event.stream_id == stream_id:
                return event, body
        raise NothingToSend("no event has been sent" + (f" for stream {stream_id}" if stream_id else ""))

    def _send_now(self, post: Coroutine[Any, Any, dict[str, Any]]) -> Sent:
        """Run one attempt on the delivery loop; the future gives its log entry."""
        if self._loop is None:
            self.start()
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(post, self._loop)

    # --- inspection --------------------------------------------------------------------------

    def log(self, since: int = 0, stream_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(entry)
                for entry in self._log
                if entry["seq"] > since and (stream_id is None or entry["stream_id"] == stream_id)
            ]

    @property
    def pending(self) -> int:
        """Events queued or being retried."""
        with self._lock:
            return self._pending

    def reset(self) -> None:
        """Forget the delivery log and the sent events, and go back to the receiver given at start
        (deliveries under way carry on)."""
        self.target = self._initial_target
        with self._lock:
            self._log.clear()
            self._sent.clear()

"""The simulator's whole state behind one lock, and its persistence.

Two files: the snapshot (`--state-file`, streams + faults + counters, rewritten atomically: temp
file, fsync, rename) and the call log beside it (`<stem>.calls.jsonl`, append-only, compacted to
the last `calls_cap` entries once it grows a quarter past that). A flusher thread writes whatever
changed at most every `flush_interval` seconds, so a burst of calls costs one write, and `close()`
flushes synchronously (the CLI calls it on SIGTERM/SIGINT). A kill -9 loses at most the changes and
calls of the last flush interval (50 ms by default).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from worker.simulator.faults import FaultRule
from worker.simulator.model import Change, Stream

ChangeSink = Callable[[str, list[Change]], None]

SNAPSHOT_VERSION = 1
logger = logging.getLogger(__name__)


def calls_path_for(state_file: Path) -> Path:
    return state_file.with_name(f"{state_file.stem}.calls.jsonl")


class SimState:
    """Streams, fault rules, the call log and tunables. Hold `lock` while reading or changing."""

    def __init__(self, state_file: Path | None, calls_cap: int = 200_000, flush_interval: float = 0.05):
        self.lock = threading.RLock()
        self.streams: dict[str, Stream] = {}
        self.faults: list[FaultRule] = []
        self.calls: deque[dict[str, Any]] = deque(maxlen=calls_cap)
        self.next_seq = 1
        self.generation = 0  # bumped by reset()
        self.next_rule_id = 1
        self.time_scale = 1.0
        self.connect_delay = 1.0
        self.rate_limit: int | None = None  # /v1 requests per second; None = unlimited
        self.default_rate_limit: int | None = None  # what reset() goes back to
        # Receives each stream's webhook-worthy changes, under the lock, in the order they happened.
        self.on_changes: ChangeSink | None = None
        self._timed: set[str] = set()  # streams whose settle() may change them later on its own
        self._calls_cap = calls_cap
        self._state_file = state_file
        self._dirty = False
        self._pending_calls: list[dict[str, Any]] = []
        self._calls_in_file = 0
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._flush_interval = flush_interval
        self._flusher: threading.Thread | None = None
        if state_file is not None:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            self._load(state_file)

    # --- changes -----------------------------------------------------------------------------

    def mark_dirty(self) -> None:
        self._dirty = True

    def changed(self, stream: Stream) -> None:
        """A stream changed (caller holds the lock): persist it and pass its changes on."""
        self._dirty = True
        if stream.has_timer():
            self._timed.add(stream.stream_id)
        else:
            self._timed.discard(stream.stream_id)
        changes = stream.take_changes()
        if changes and self.on_changes is not None:
            self.on_changes(stream.stream_id, changes)

    def settle(self, stream: Stream, now: datetime) -> bool:
        """Apply the stream's due time-driven effects (caller holds the lock)."""
        if not stream.settle(now):
            return False
        self.changed(stream)
        return True

    def settle_due(self, now: datetime) -> None:
        """Settle every stream with a pending timer, so its changes are reported when they happen."""
        with self.lock:
            for stream_id in list(self._timed):
                stream = self.streams.get(stream_id)
                if stream is not None and stream.settle(now):
                    self.changed(stream)
                elif stream is None or not stream.has_timer():
                    self._timed.discard(stream_id)

    def record_call(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append to the call log, assigning the next sequence number (caller holds the lock)."""
        entry = {"seq": self.next_seq, **entry}
        self.next_seq += 1
        self.calls.append(entry)
        self._pending_calls.append(entry)
        self._dirty = True
        return entry

    def reset(self) -> None:
        with self.lock:
            # A call still in flight (a slow fault) answers after the reset: it belongs to the old log.
            self.generation += 1
            self.streams.clear()
            self._timed.clear()
            self.faults.clear()
            self.calls.clear()
            self._pending_calls.clear()
            self.next_seq = 1
            self.next_rule_id = 1
            self.rate_limit = self.default_rate_limit
            self._dirty = True
        # The log on disk restarts empty too.
        with self._write_lock:
            if self._state_file is not None:
                _atomic_write(calls_path_for(self._state_file), "")
                self._calls_in_file = 0

    # --- persistence -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "next_seq": self.next_seq,
            "next_rule_id": self.next_rule_id,
            "time_scale": self.time_scale,
            "connect_delay": self.connect_delay,
            "rate_limit": self.rate_limit,
            "streams": [s.to_state() for s in self.streams.values()],
            "faults": [f.to_state() for f in self.faults],
        }

    def _load(self, state_file: Path) -> None:
        if state_file.exists():
            data = json.loads(state_file.read_text(encoding="utf-8"))
            if data.get("version") != SNAPSHOT_VERSION:
                raise ValueError(f"{state_file}: unknown simulator state version {data.get('version')!r}")
            self.streams = {s["stream_id"]: Stream.from_state(s) for s in data["streams"]}
            self._timed = {sid for sid, stream in self.streams.items() if stream.has_timer()}
            self.faults = [FaultRule.from_state(f) for f in data["faults"]]
            self.next_seq = int(data["next_seq"])
            self.next_rule_id = int(data["next_rule_id"])
            self.time_scale = float(data["time_scale"])
            self.connect_delay = float(data["connect_delay"])
            rate_limit = data.get("rate_limit")
            self.rate_limit = None if rate_limit is None else int(rate_limit)
        calls_file = calls_path_for(state_file)
        if calls_file.exists():
            with calls_file.open(encoding="utf-8") as handle:
                for line in handle:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a torn last line from a kill -9: everything before it is good
                    self.calls.append(entry)
                    self._calls_in_file += 1
            if self.calls:
                self.next_seq = max(self.next_seq, int(self.calls[-1]["seq"]) + 1)

    def flush(self) -> None:
        """Write what changed since the last flush; safe to call from any thread."""
        if self._state_file is None:
            with self.lock:
                self._pending_calls.clear()
                self._dirty = False
            return
        with self._write_lock:
            with self.lock:
                if not self._dirty:
                    return
                text = json.dumps(self.snapshot(), separators=(",", ":"))
                pending, self._pending_calls = self._pending_calls, []
                compact = self._calls_in_file + len(pending) > self._calls_cap * 1.25
                kept = list(self.calls) if compact else []
                self._dirty = False
            try:
                self._write(pending, compact, kept, text)
            except OSError:
                with self.lock:
                    self._pending_calls = pending + self._pending_calls
                    self._dirty = True
                raise

    def _write(
        self, pending: list[dict[str, Any]], compact: bool, kept: list[dict[str, Any]], text: str
    ) -> None:
        assert self._state_file is not None
        calls_file = calls_path_for(self._state_file)
        if compact:
            _atomic_write(calls_file, "".join(json.dumps(c) + "\n" for c in kept))
            self._calls_in_file = len(kept)
        elif pending:
            with calls_file.open("a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps(c) + "\n" for c in pending))
                handle.flush()
                os.fsync(handle.fileno())
            self._calls_in_file += len(pending)
        _atomic_write(self._state_file, text)

    def start_flusher(self) -> None:
        if self._flusher is not None:
            return
        self._stop.clear()
        self._flusher = threading.Thread(target=self._flush_loop, name="simulator-flush", daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_interval):
            try:
                self.flush()
            except OSError as exc:
                # Keep serving; the next flush retries (everything pending is still pending).
                logger.error("simulator state could not be written: %s", exc)

    def close(self) -> None:
        """Stop the flusher and write everything still pending."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
            self._flusher = None
        self.flush()


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

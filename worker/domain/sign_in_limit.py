"""Failed sign-ins per client address: after MAX_FAILURES within WINDOW, that address waits until the
oldest of them leaves the window. A guesser of 256-bit tokens gets nowhere anyway; the limit keeps
the log and the database quiet, and slows a script that tries leaked token lists."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(minutes=5)


class FailedSignIns:
    """In one process's memory: each `onair api` process counts its own (docs/web.md)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: timedelta = WINDOW) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}

    def wait(self, address: str, now: datetime) -> timedelta | None:
        """How long this address must wait before trying again, or None when it may try now."""
        failures = self._recent(address, now)
        if not failures:
            del self._failures[address]  # forget addresses whose failures have all aged out
        if len(failures) < self.max_failures:
            return None
        return failures[0] + self.window - now

    def failed(self, address: str, now: datetime) -> None:
        self._recent(address, now).append(now)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        failures = self._failures.setdefault(address, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

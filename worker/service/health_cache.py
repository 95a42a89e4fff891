"""Doctor's database checks for a page, run at most once every few seconds per process.

The ops page shows doctor's lines above the board, and the board refreshes itself every 15 s in
every open browser: running eight checks (eight queries) on each render costs more than the board's
own data. A result is reused while it is younger than `fresh_for`, so a line on the page is at most
that old (5 s by default, a third of the board's refresh). An action taken from the pages (pause,
resume, retry, cancel) can call `forget()` (web.pages.health_changed) so the page it redirects to
shows its effect in these lines at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from worker.service.health import CheckResult

FRESH_FOR = timedelta(seconds=5)


class RecentChecks:
    """The last results of one list of checks, with when they were taken. Thread-safe: the API serves
    page requests from a thread pool, and only one of them runs the checks when they are stale."""

    def __init__(self, fresh_for: timedelta = FRESH_FOR) -> None:
        self.fresh_for = fresh_for
        self._taken: tuple[datetime, list[CheckResult]] | None = None
        self._lock = threading.Lock()

    def get(self, now: datetime, run: Callable[[], list[CheckResult]]) -> list[CheckResult]:
        with self._lock:
            if self._taken is not None and timedelta(0) <= now - self._taken[0] < self.fresh_for:
                return self._taken[1]
            results = run()
            self._taken = (now, results)
            return results

    def forget(self) -> None:
        with self._lock:
            self._taken = None

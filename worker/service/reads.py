"""When a worker process reads its streams before their instants: the state reads of every batch the
process runs, planned together.

A read (and the write-ahead commit after it) costs a worker process a few ms of CPU, so reads that
fall due together are spaced apart, each as late as it may be, the earliest-due first. Planned per
batch, the ten batches of a 1,000-action burst that reached one process each spaced their own reads
over the same 400 ms, and the process read hundreds of streams at once, past the instant. Planned per
process, later batches take the room left before their instant, and what finds none reads at once.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections.abc import Sequence
from datetime import datetime, timedelta

# Reads of one process are at least this far apart while there is room before their instant.
READ_SPACING = timedelta(milliseconds=8)


class ReadSchedule:
    """The reads this process has planned that are not yet past."""

    def __init__(self, spacing: timedelta = READ_SPACING) -> None:
        self._spacing = spacing
        self._lock = threading.Lock()
        self._planned: list[datetime] = []  # sorted

    def plan(self, reads: Sequence[tuple[datetime, bool]], now: datetime) -> list[datetime]:
        """When each read happens, from (when it would read alone, whether it may read earlier), in
        the order given (instant order): as late as it may, at least the spacing from every other read
        this process planned, but never before `now` (no room: it reads at once). A read that may not
        move (a retry: its time may be a server's Retry-After) keeps its time, and the others make
        room around it."""
        with self._lock:
            del self._planned[: bisect_left(self._planned, now - self._spacing)]
            fixed = [at for at, movable in reads if not movable]
            for at in fixed:
                insort(self._planned, at)
            planned = []
            for at, movable in reversed(reads):
                if movable:
                    at = self._latest_free(at, now)
                    insort(self._planned, at)
                planned.append(at)
            return planned[::-1]

    def _latest_free(self, at: datetime, now: datetime) -> datetime:
        while at > now:
            clash = bisect_left(self._planned, at - self._spacing + timedelta.resolution)
            if clash == len(self._planned) or self._planned[clash] >= at + self._spacing:
                return at
            at = self._planned[clash] - self._spacing
        return now

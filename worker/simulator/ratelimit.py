"""FastPix's request-rate limit, as the simulator plays it: a sliding one-second window.

A /v1 request is admitted when fewer than `rps` requests were admitted in the second before it;
otherwise it is answered 429 with `Retry-After` (whole seconds, so 1) and does nothing. Refused
requests do not count, so a client sending faster than the limit still gets `rps` answers a second.
Times are monotonic seconds (real time even under a FixedClock: the limit is about real traffic).
"""

from __future__ import annotations

import math
from collections import deque

WINDOW = 1.0


class SlidingWindow:
    def __init__(self) -> None:
        self._admitted: deque[float] = deque()

    def admit(self, rps: int | None, now: float) -> float | None:
        """None when the request may go ahead, else the seconds until it could."""
        if rps is None:
            return None
        while self._admitted and now - self._admitted[0] >= WINDOW:
            self._admitted.popleft()
        if len(self._admitted) < rps:
            self._admitted.append(now)
            return None
        return WINDOW - (now - self._admitted[-rps])

    def reset(self) -> None:
        self._admitted.clear()


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))

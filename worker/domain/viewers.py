"""Viewer counts of a broadcast: when to sample the stream's viewer-count, and the figures. Pure.

A broadcast is sampled while its slot runs, [starts_at, ends_at), and only while its stream's known
status is `active` (nobody watches a stream that is not live, and FastPix's count is then stale). The
slot is cut into periods of `every` seconds from its start; each period gets at most one sample, taken
at the first look that finds the stream active in it. So a stream that goes live mid-period is sampled
at once, and the samples keep the cadence however late each look comes.

A sample is one small integer. What is kept per broadcast is its running figures (count, sum, peak),
so the average is that of the samples: the viewers while the stream was live.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ACTIVE = "active"
MIN_EVERY_SECONDS = 10.0
DEFAULT_EVERY_SECONDS = 60.0
# The sampler looks this often at most; more often for a short `every`, so a sample is at most a
# quarter of a period late.
LOOK_SECONDS = 5.0


def check_every(seconds: float) -> float:
    """The sampling interval, or ValueError saying why not (FastPix's count is approximate: sampling
    it more often only spends the request budget)."""
    if not math.isfinite(seconds) or seconds < MIN_EVERY_SECONDS:
        raise ValueError(
            f"the viewer-count sampling interval must be at least {MIN_EVERY_SECONDS:.0f} seconds "
            f"(got {seconds:g}); the default is {DEFAULT_EVERY_SECONDS:.0f}"
        )
    return seconds


def look_seconds(every: float) -> float:
    """How often the sampler looks for broadcasts due a sample."""
    return min(LOOK_SECONDS, every / 4)


def period_start(starts_at: datetime, now: datetime, every: float) -> datetime:
    """The start of the slot's period that holds `now` (periods of `every` seconds from starts_at)."""
    step = timedelta(seconds=every)
    return starts_at + step * math.floor((now - starts_at) / step)


def sample_due(
    *,
    starts_at: datetime,
    ends_at: datetime,
    stream_status: str | None,
    last_attempt_at: datetime | None,
    now: datetime,
    every: float,
) -> bool:
    """Whether to sample the broadcast's stream now: in its slot, stream active, and no sample taken
    (or tried) yet in this period."""
    if not starts_at <= now < ends_at or stream_status != ACTIVE:
        return False
    return last_attempt_at is None or last_attempt_at < period_start(starts_at, now, every)


def wait_bound(starts_at: datetime, ends_at: datetime, now: datetime, every: float) -> datetime:
    """How long a sample may wait for the request budget: to the end of its period, or of the slot.
    Later it would count for the next period, or after the slot."""
    return min(ends_at, period_start(starts_at, now, every) + timedelta(seconds=every))


@dataclass(frozen=True)
class ViewerFigures:
    """A broadcast's samples so far: how many, their sum and peak; the failed sample calls."""

    samples: int = 0
    total: int = 0
    peak: int | None = None
    peak_at: datetime | None = None
    last: int | None = None
    sampled_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None

    @property
    def average(self) -> float | None:
        return self.total / self.samples if self.samples else None

    def text(self, show_time: Callable[[datetime], str] | None = None) -> str:
        """`peak 120 at <show_time(peak_at)>, average 87 (45 samples)`; with failed calls, how many
        and the last cause."""
        if self.samples:
            noun = "sample" if self.samples == 1 else "samples"
            when = "" if show_time is None or self.peak_at is None else f" at {show_time(self.peak_at)}"
            shown = f"peak {self.peak}{when}, average {self.average:.0f} ({self.samples} {noun})"
        else:
            shown = "no sample"
        if self.failures:
            shown += f"; {self.failures} failed, last: {self.last_error}"
        return shown

    def to_json(self) -> dict[str, Any]:
        average = self.average
        return {
            "peak": self.peak,
            "peak_at": _iso(self.peak_at),
            "average": None if average is None else round(average, 1),
            "samples": self.samples,
            "last": self.last,
            "sampled_at": _iso(self.sampled_at),
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()

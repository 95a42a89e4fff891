"""What every handler needs: the database, the settings, the clock (and FastPix's settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from worker.clock import Clock, SystemClock
from worker.config import FastPixSettings, OnairSettings
from worker.service.health_cache import RecentChecks


@dataclass(frozen=True)
class ApiContext:
    engine: Engine
    settings: OnairSettings
    clock: Clock = field(default_factory=SystemClock)
    # FastPix's settings: the receiver's signing secret (FASTPIX_WEBHOOK_SECRET).
    fastpix: FastPixSettings = field(default_factory=FastPixSettings)
    # Doctor's lines on the ops page, reused for a few seconds by this process.
    ops_checks: RecentChecks = field(default_factory=RecentChecks)

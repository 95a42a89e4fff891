"""What every handler needs: the database, the settings, the clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from worker.clock import Clock, SystemClock
from worker.config import OnairSettings


@dataclass(frozen=True)
class ApiContext:
    engine: Engine
    settings: OnairSettings
    clock: Clock = field(default_factory=SystemClock)

"""Settings of the watchdog, the alerts and `onair doctor` (ONAIR_*, like worker.config's)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONAIR_", env_file=".env", extra="ignore")

    # The scheduler counts as stopped when the dispatcher has not ticked for this long.
    stall_seconds: float = Field(default=30.0, gt=0)
    # `onair doctor` fails when an action has been due and unclaimed for this long.
    backlog_limit_seconds: float = Field(default=60.0, gt=0)
    # How often each worker writes its heartbeat and runs the watchdog; a worker is dead after 3 misses.
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    # Webhook delivery: attempts per alert and the first back-off (doubled each time).
    alert_attempts: int = Field(default=5, ge=1, le=10)
    alert_backoff_seconds: float = Field(default=1.0, ge=0)


@lru_cache
def ops_settings() -> OpsSettings:
    return OpsSettings()

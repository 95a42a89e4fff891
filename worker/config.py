"""Settings, read from the environment (and a .env file when present).

FastPix credentials use FastPix's own variable names; onair's own settings are ONAIR_*.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MissingSetting(RuntimeError):
    """A required setting is absent; the message names the variable."""


class FastPixSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FASTPIX_", env_file=".env", extra="ignore")

    api_url: str = "https://api.fastpix.com/v1"
    access_token_id: SecretStr | None = None
    secret_key: SecretStr | None = None
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=15.0, gt=0)
    call_deadline: float = Field(default=30.0, gt=0)

    def credentials(self) -> tuple[str, str]:
        if self.access_token_id is None or not self.access_token_id.get_secret_value():
            raise MissingSetting("FASTPIX_ACCESS_TOKEN_ID is not set")
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise MissingSetting("FASTPIX_SECRET_KEY is not set")
        return self.access_token_id.get_secret_value(), self.secret_key.get_secret_value()


class OnairSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONAIR_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///onair.db"
    # Empty means the embedded broker: no server needed, one machine only.
    broker_url: str = ""
    data_dir: str = ".onair"
    horizon_hours: float = Field(default=24.0, gt=0)
    tick_seconds: float = Field(default=1.0, gt=0)
    plan_seconds: float = Field(default=5.0, gt=0)
    sync_seconds: float = Field(default=60.0, gt=0)
    claim_ahead_seconds: float = Field(default=2.0, ge=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    # Most actions one worker message carries (they run in parallel threads of one worker).
    batch_size: int = Field(default=50, gt=0)
    default_lead_seconds: int = Field(default=300, ge=0)
    series_horizon_days: float = Field(default=365.0, gt=0)
    # The planner re-plans only what changed; every this many minutes it re-plans everything anyway.
    full_plan_minutes: float = Field(default=60.0, gt=0)
    alert_webhook_url: str = ""
    # Watchdog, alerts and `onair doctor` (docs/operations.md).
    # The scheduler counts as stopped when the dispatcher has not ticked for this long.
    stall_seconds: float = Field(default=30.0, gt=0)
    # `onair doctor` fails when an action has been due and unclaimed for this long.
    backlog_limit_seconds: float = Field(default=60.0, gt=0)
    # How often each worker writes its heartbeat and runs the watchdog; a worker is dead after 3 misses.
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    # Webhook delivery: attempts per alert and the first back-off (doubled each time).
    alert_attempts: int = Field(default=5, ge=1, le=10)
    alert_backoff_seconds: float = Field(default=1.0, ge=0)
    log_format: str = "text"
    metrics_port: int = 0
    # Threads per worker process: they mostly wait on HTTP and on the due instant, not on the CPU.
    worker_concurrency: int = Field(default=32, gt=0)


@lru_cache
def fastpix_settings() -> FastPixSettings:
    return FastPixSettings()


@lru_cache
def onair_settings() -> OnairSettings:
    return OnairSettings()

"""Settings, read from the environment (and a .env file when present).

FastPix credentials use FastPix's own variable names; onair's own settings are ONAIR_*.
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.domain.viewers import DEFAULT_EVERY_SECONDS as DEFAULT_VIEWERS_EVERY
from worker.domain.viewers import check_every


class MissingSetting(RuntimeError):
    """A required setting is absent; the message names the variable."""


class FastPixSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FASTPIX_", env_file=".env", extra="ignore")

    api_url: str = "https://api.fastpix.com/v1"
    access_token_id: SecretStr | None = None
    secret_key: SecretStr | None = None
    # The Signing Secret of the webhook in FastPix's dashboard (Base64, as shown there); unset: the
    # receiver (POST /webhooks/fastpix) answers 503.
    webhook_secret: SecretStr | None = None
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=15.0, gt=0)
    call_deadline: float = Field(default=30.0, gt=0)
    # Requests per second to FastPix shared by every process (worker.domain.budget); None: unlimited.
    max_rps: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @field_validator("max_rps", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

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
    # How long a claimed action stays reserved without a word from its worker: the executor renews it
    # every fifth of this while the action runs, so a dead worker's actions run again about this late.
    lease_seconds: float = Field(default=10.0, gt=0)
    # Most actions one worker message carries (they run in parallel threads of one worker).
    batch_size: int = Field(default=50, gt=0)
    default_lead_seconds: int = Field(default=300, ge=0)
    series_horizon_days: float = Field(default=365.0, gt=0)
    # Finished actions and their history are kept this many whole days, then pruned daily into
    # per-day figures (docs/operations.md, "Retention").
    history_days: int = Field(default=90, ge=1)
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
    # Where organisers reach `onair api` (e.g. https://book.example.org): the base of the calendar
    # feed URLs that `onair organiser add` prints. Empty: http://127.0.0.1:8000.
    public_url: str = ""
    # Threads per worker process: they mostly wait on HTTP and on the due instant, not on the CPU.
    worker_concurrency: int = Field(default=32, gt=0)
    # The daily report to the alert webhook: `HH:MM Zone/Name` (e.g. `07:00 Europe/Berlin`); empty: off.
    report_at: str = ""
    # A broadcast whose stream is not live this long after its start raises a no-signal alert.
    no_signal_grace: float = Field(default=60.0, gt=0)
    # How long a sign-in to the web pages lasts (the session cookie's lifetime).
    session_hours: float = Field(default=12.0, gt=0)
    # How often a live broadcast's viewer count is sampled (seconds, at least 10).
    viewers_every: float = DEFAULT_VIEWERS_EVERY

    @field_validator("viewers_every")
    @classmethod
    def _viewers_every(cls, value: float) -> float:
        return check_every(value)

    @field_validator("report_at")
    @classmethod
    def _report_at(cls, value: str) -> str:
        if value.strip():
            parse_report_at(value)
        return value.strip()

    def report_schedule(self) -> tuple[time, ZoneInfo] | None:
        return parse_report_at(self.report_at) if self.report_at else None


def parse_report_at(text: str) -> tuple[time, ZoneInfo]:
    """`07:00 Europe/Berlin` -> (07:00, Europe/Berlin); ValueError naming the setting otherwise."""
    usage = f"ONAIR_REPORT_AT must be 'HH:MM Zone/Name', e.g. '07:00 Europe/Berlin' (got {text!r})"
    clock, _, zone_name = text.strip().partition(" ")
    try:
        at = time.fromisoformat(clock)
    except ValueError:
        raise ValueError(usage) from None
    try:
        zone = ZoneInfo(zone_name.strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a folder name such as `Europe` is an OSError
        raise ValueError(f"{usage}: unknown time zone {zone_name.strip()!r}") from None
    return at.replace(tzinfo=None), zone


def settings_problem(exc: ValidationError, prefix: str = "ONAIR_") -> str:
    """One line per bad setting, named as the operator sets it: `ONAIR_HISTORY_DAYS='x': ...`."""
    lines = []
    for error in exc.errors():
        name = prefix + "_".join(str(part) for part in error["loc"]).upper()
        lines.append(f"{name}={error.get('input')!r}: {error['msg']}")
    return "; ".join(lines)


def bad_settings_line(exc: ValidationError) -> str | None:
    """`bad setting: FASTPIX_MAX_RPS='abc': ...` when `exc` comes from reading the settings, else None."""
    for cls in (FastPixSettings, OnairSettings):
        if exc.title == cls.__name__:
            return f"bad setting: {settings_problem(exc, str(cls.model_config.get('env_prefix', '')))}"
    return None


@lru_cache
def fastpix_settings() -> FastPixSettings:
    return FastPixSettings()


@lru_cache
def onair_settings() -> OnairSettings:
    return OnairSettings()

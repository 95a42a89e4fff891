"""The checks behind `onair doctor`: each answers ok or not, with one line of detail for a person.

Every check is bounded in time (a few seconds), never raises, and never prints a secret, so the
command can serve as a container health check. docs/operations.md lists them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from worker.clock import Clock, SystemClock
from worker.config import FastPixSettings, MissingSetting, OnairSettings
from worker.domain.causes import describe_failure
from worker.domain.pauses import describe as describe_pause
from worker.domain.types import ActionState
from worker.fastpix.client import FastPixClient
from worker.fastpix.errors import FastPixError, HttpStatusError
from worker.service import pauses, planner_watch
from worker.service.logs import redact
from worker.store import backlog, observations
from worker.store.db import current_revision, head_revision, make_engine, normalise_url, transaction

CONNECT_TIMEOUT_SECONDS = 3
PING_TIMEOUT_SECONDS = 1.5
# (settings, timeout in seconds) -> the names of the workers that answered.
PingWorkers = Callable[[OnairSettings, float], list[str]]


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    # Worth a look but nothing is stopped (an invalid row, a failed action): exit 0 unless --strict.
    warning: bool = False

    @property
    def status(self) -> str:
        return "FAIL" if not self.ok else "WARN" if self.warning else "ok"

    def line(self) -> str:
        return f"{self.status:<4} {self.name}  {self.detail}"


@dataclass
class Doctor:
    settings: OnairSettings
    fastpix: FastPixSettings
    clock: Clock = field(default_factory=SystemClock)
    # An engine the caller owns (the web pages'); otherwise the doctor makes one and disposes of it.
    _engine: Engine | None = None
    # Asks the workers over the broker who is there (worker.celery_app.ping_workers): the front door
    # passes it, so this module never loads the Celery app.
    ping_workers: PingWorkers | None = None
    _owns_engine: bool = field(default=False, init=False)

    def run(self, names: list[str]) -> list[CheckResult]:
        try:
            return [self._guarded(name) for name in names]
        finally:
            if self._engine is not None and self._owns_engine:
                self._engine.dispose()

    def _guarded(self, name: str) -> CheckResult:
        try:
            return CHECKS[name](self)
        except Exception as exc:
            return CheckResult(name, False, _error(exc))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            url = normalise_url(self.settings.database_url)
            if _missing_sqlite_file(self.settings.database_url):
                raise FileNotFoundError(f"database file {url.database} does not exist")
            args: dict[str, Any] = {}
            if url.get_backend_name() == "postgresql":
                args = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}}
            self._engine = make_engine(url, **args)
            self._owns_engine = True
        return self._engine

    def database_label(self) -> str:
        return make_url(self.settings.database_url).render_as_string(hide_password=True)

    def check_database(self) -> CheckResult:
        if _missing_sqlite_file(self.settings.database_url):  # connecting would create an empty file
            return CheckResult("database", False, f"{self.database_label()}: the file does not exist")
        found = current_revision(self.engine)
        wanted = head_revision()
        label = self.database_label()
        if found is None:
            return CheckResult("database", False, f"{label} has no onair schema: run `onair db upgrade`")
        if found != wanted:
            return CheckResult(
                "database", False, f"{label} at {found}, onair needs {wanted}: run `onair db upgrade`"
            )
        return CheckResult("database", True, f"{label} at head {found}", {"revision": found})

    def check_broker(self) -> CheckResult:
        url = self.settings.broker_url
        if not url:
            folder = Path(self.settings.data_dir).resolve() / "broker"
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".doctor-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
            return CheckResult("broker", True, f"embedded, folder {folder} writable")
        label = _hide_password(url)
        if urlsplit(url).scheme in ("redis", "rediss"):
            import redis

            client = redis.Redis.from_url(
                url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=CONNECT_TIMEOUT_SECONDS
            )
            try:
                client.ping()
            finally:
                client.close()
            return CheckResult("broker", True, f"{label} answers PING")
        from kombu.connection import Connection

        with Connection(url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1)
        return CheckResult("broker", True, f"{label} reachable")

    def check_fastpix(self) -> CheckResult:
        settings = self.fastpix.model_copy(
            update={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "read_timeout": 5.0, "call_deadline": 6.0}
        )
        try:
            client = FastPixClient.from_settings(settings)
        except MissingSetting as exc:
            return CheckResult("fastpix", False, str(exc))
        started = time.monotonic()
        with client:
            try:
                page = client.list_streams(limit=1)
            except HttpStatusError as exc:
                if exc.status in (401, 403):
                    return CheckResult(
                        "fastpix", False, f"{settings.api_url} rejected the credentials ({exc.status})"
                    )
                return CheckResult("fastpix", False, f"{settings.api_url}: {_error(exc)}")
            except FastPixError as exc:
                return CheckResult("fastpix", False, f"{settings.api_url} unreachable: {_error(exc)}")
        ms = (time.monotonic() - started) * 1000
        total = page.pagination.total_records if page.pagination else None
        streams = "" if total is None else f", {total} streams"
        return CheckResult("fastpix", True, f"{settings.api_url} credentials accepted ({ms:.0f} ms{streams})")

    def check_beat(self) -> CheckResult:
        limit = self.settings.stall_seconds
        age = backlog.tick_age(self.engine, self.clock.now())
        if age is None:
            return CheckResult("beat", False, f"the dispatcher has never ticked (limit {limit:.0f} s)")
        data = {"tick_age_seconds": round(age, 3), "limit_seconds": limit}
        if age > limit:
            return CheckResult("beat", False, f"last tick {age:.0f} s ago (limit {limit:.0f} s)", data)
        return CheckResult("beat", True, f"last tick {age:.1f} s ago (limit {limit:.0f} s)", data)

    def check_workers(self) -> CheckResult:
        if self.settings.broker_url:
            broker = self._guarded("broker")
            if not broker.ok:  # Celery would retry the connection for many seconds
                return CheckResult("workers", False, f"cannot ping them, the broker is down: {broker.detail}")
            if self.ping_workers is None:
                return CheckResult("workers", False, "cannot ping them: this doctor was given no way to")
            replies = self.ping_workers(self.settings, PING_TIMEOUT_SECONDS)
            names = sorted(replies)
            if not names:
                return CheckResult(
                    "workers", False, f"no worker answered a ping within {PING_TIMEOUT_SECONDS} s"
                )
            return CheckResult(
                "workers", True, f"{len(names)} answered a ping: {', '.join(names)}", {"workers": names}
            )
        now = self.clock.now()
        fresh_within = 3 * self.settings.heartbeat_seconds
        beats = backlog.worker_heartbeats(self.engine)
        alive = sorted(n for n, at in beats.items() if (now - at).total_seconds() <= fresh_within)
        if not alive:
            return CheckResult(
                "workers", False, f"no worker heartbeat in the last {fresh_within:.0f} s ({len(beats)} known)"
            )
        return CheckResult(
            "workers",
            True,
            f"{len(alive)} with a heartbeat in the last {fresh_within:.0f} s: {', '.join(alive)}",
            {"workers": alive},
        )

    def check_consumers(self) -> CheckResult:
        """A worker process can be alive with its Celery consumer gone (a broker outage it did not
        recover from): the watchdog's consumer heartbeat says whether one consumes the actions queue."""
        within = 3 * self.settings.heartbeat_seconds
        now = self.clock.now()
        names = backlog.fresh_heartbeats(self.engine, now, within, prefix=backlog.CONSUMER_KEY_PREFIX)
        if not names:
            return CheckResult(
                "consumers", False, f"no worker consumed the actions queue in the last {within:.0f} s"
            )
        return CheckResult(
            "consumers",
            True,
            f"{len(names)} consuming the actions queue: {', '.join(names)}",
            {"consumers": names},
        )

    def check_backlog(self) -> CheckResult:
        now = self.clock.now()
        work = backlog.read_backlog(self.engine, now)
        oldest = work.oldest_due_age(now)
        limit = self.settings.backlog_limit_seconds
        data = {
            "due": work.due,
            "retrying": work.retrying,
            "claimed": work.claimed,
            "oldest_due_seconds": oldest,
        }
        summary = f"{work.due} due, {work.retrying} retrying, {work.claimed} claimed"
        if oldest > limit:
            return CheckResult(
                "backlog",
                False,
                f"{summary}; oldest due {oldest:.0f} s ago, unclaimed (limit {limit:.0f} s)",
                data,
            )
        return CheckResult("backlog", True, summary, data)

    def check_planner(self) -> CheckResult:
        limit = planner_watch.stall_limit(self.settings)
        now = self.clock.now()
        with transaction(self.engine, immediate=False) as session:
            state = planner_watch.read_state(session)
        if state.failure is not None:
            f = state.failure
            data = {"failures": f.count, "failing_since": f.since.isoformat(), "error": f.error}
            return CheckResult(
                "planner",
                False,
                f"the last tick failed ({f.count} in a row since {f.since:%H:%M:%S} UTC): {f.error}",
                data,
            )
        working = None if state.working_at is None else max(0.0, (now - state.working_at).total_seconds())
        if working is not None and working <= limit:
            since = "never" if state.last_ok is None else f"{(now - state.last_ok).total_seconds():.1f} s ago"
            detail = (
                f"a long tick is under way, its last write {working:.1f} s ago (limit {limit:.0f} s); "
                f"last finished tick: {since}"
            )
            return CheckResult("planner", True, detail, {"working_age_seconds": round(working, 3)})
        if state.last_ok is None:
            return CheckResult("planner", False, f"the planner has never ticked (limit {limit:.0f} s)")
        age = max(0.0, (now - state.last_ok).total_seconds())
        data = {"last_ok_age_seconds": round(age, 3), "limit_seconds": limit}
        detail = f"last successful tick {age:.1f} s ago (limit {limit:.0f} s)"
        return CheckResult("planner", age <= limit, detail, data)

    def check_schedules(self) -> CheckResult:
        with transaction(self.engine, immediate=False) as session:
            rows = observations.invalid_rows(session)
        if not rows:
            return CheckResult("schedules", True, "no invalid rows")
        data = {"invalid": [{"row": r.label, "reason": r.reason} for r in rows]}
        listed = _listing([f"{r.label}: {r.reason}" for r in rows])
        return CheckResult("schedules", True, f"{len(rows)} invalid, not planned: {listed}", data, True)

    def check_paused(self) -> CheckResult:
        """Streams an operator paused get no act: worth a look (a pause forgotten stops every broadcast)."""
        found = pauses.in_force(self.engine, self.clock.now())
        if not found:
            return CheckResult("paused", True, "no stream paused")
        data = {
            "paused": [
                {"stream_id": p.stream_id, "paused_by": p.paused_by, "note": p.note, "until": _iso(p.until)}
                for p in found
            ]
        }
        listed = _listing([f"{p.stream_id} {describe_pause(p)}" for p in found])
        return CheckResult("paused", True, f"{len(found)} paused, no act sent: {listed}", data, True)

    def check_recent(self) -> CheckResult:
        since = self.clock.now() - RECENT
        states = (ActionState.FAILED.value, ActionState.MISSED.value)
        with transaction(self.engine, immediate=False) as session:
            rows = list(session.scalars(observations.history_query(since, None, states).limit(100)))
        if not rows:
            return CheckResult("recent", True, "no failed or missed action in the last 24 h")
        found = [
            {
                "action_id": a.id,
                "state": a.state,
                "cause": describe_failure(a.state, a.outcome, a.last_error),
            }
            for a in rows
        ]
        listed = _listing(
            [
                f"#{a.id} {a.kind} {a.stream_id} {a.state}: {f['cause']}"
                for a, f in zip(rows, found, strict=True)
            ]
        )
        more = "+" if len(rows) == 100 else ""
        detail = f"{len(rows)}{more} failed or missed in the last 24 h: {listed}"
        return CheckResult("recent", True, detail, {"actions": found}, True)


CHECKS: dict[str, Callable[[Doctor], CheckResult]] = {
    "database": Doctor.check_database,
    "broker": Doctor.check_broker,
    "fastpix": Doctor.check_fastpix,
    "beat": Doctor.check_beat,
    "workers": Doctor.check_workers,
    "consumers": Doctor.check_consumers,
    "backlog": Doctor.check_backlog,
    "planner": Doctor.check_planner,
    "schedules": Doctor.check_schedules,
    "paused": Doctor.check_paused,
    "recent": Doctor.check_recent,
}
RECENT = timedelta(hours=24)
LISTED = 5


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _listing(items: list[str]) -> str:
    shown = "; ".join(items[:LISTED])
    return shown if len(items) <= LISTED else f"{shown}; and {len(items) - LISTED} more"


def _missing_sqlite_file(database_url: str) -> bool:
    url = make_url(database_url)
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    return on_disk and not Path(url.database or "").exists()


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _error(exc: BaseException) -> str:
    if isinstance(exc, FastPixError):
        return redact(str(exc))
    return planner_watch.describe_exception(exc)

"""A fleet of disabled simulator streams, each with one broadcast whose enable falls due in a window,
and the count of what happened to them: the simulator's call log says which calls changed a stream,
the ledger says what onair recorded. Shared by the fault tests.

"One effect" means one call that changed the stream's status in the simulator (status_before !=
status_after): a dropped answer after the server did the work still counts, a refused call does not.
"""

from __future__ import annotations

import os
import re
import shlex
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.harness import BIN, Proc, migrate, scheduler_env, wait_for
from tests.integration.simulator_fixture import Simulator
from worker.fastpix.client import FastPixClient
from worker.simulator.control import CallRecord
from worker.store.types import to_sqlite_text

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"
# What tests/harness.py's scheduler_env shortens for speed; the shipped-defaults runs drop them.
SHORTENED = ("ONAIR_TICK_SECONDS", "ONAIR_PLAN_SECONDS", "ONAIR_LEASE_SECONDS")
CHANGING = ("enable", "disable", "finish", "delete")
SETTLED = ("succeeded", "failed", "skipped", "missed", "superseded", "cancelled")


def arrival(call: CallRecord) -> datetime:
    return datetime.fromisoformat(call.time).astimezone(UTC)


def sql_time(engine: sa.Engine, when: datetime) -> object:
    """A bind value for a timestamp in plain SQL (SQLite keeps UTC text, PostgreSQL a timestamptz)."""
    return to_sqlite_text(when) if engine.dialect.name == "sqlite" else when


def migrated_scheduler(
    engines: Callable[[str], sa.Engine],
    simulator: Simulator,
    work: Path,
    database_url: str,
    broker_url: str,
    *,
    fastpix: Mapping[str, str] | None = None,
    **settings: str,
) -> tuple[sa.Engine, dict[str, str]]:
    """Migrate the database; its engine, and the environment of a scheduler on it, the broker and the
    simulator (data in `work`/data), with the shipped lease and `settings` on top."""
    migrate(database_url)
    env = scheduler_env(
        database_url=database_url,
        broker_url=broker_url,
        data_dir=work / "data",
        fastpix=simulator.env if fastpix is None else fastpix,
    )
    # Faults run with the shipped lease (tests/harness.py shortens it for the end-to-end runs).
    del env["ONAIR_LEASE_SECONDS"]
    return engines(database_url), {**env, **settings}


def shipped_scheduler(
    engines: Callable[[str], sa.Engine], simulator: Simulator, work: Path, database_url: str, broker_url: str
) -> tuple[sa.Engine, dict[str, str]]:
    """As migrated_scheduler, with every onair setting at its shipped default."""
    engine, env = migrated_scheduler(engines, simulator, work, database_url, broker_url)
    return engine, {k: v for k, v in env.items() if k not in SHORTENED}


def procfile_procs(
    env: dict[str, str], log_dir: Path, roles: Iterable[str] = ("worker", "planner", "beat")
) -> list[Proc]:
    """The Procfile's processes, with its command lines as written (`${VAR:-default}` expanded from
    `env`), run with this virtualenv first on the PATH."""
    lines = dict(line.split(": ", 1) for line in PROCFILE.read_text().splitlines() if ": " in line)

    def expand(match: re.Match[str]) -> str:
        return env.get(match.group(1)) or match.group(2)

    procs = []
    for role in roles:
        argv = shlex.split(re.sub(r"\$\{(\w+):-([^}]*)\}", expand, lines[role]))
        procs.append(
            Proc(
                role,
                argv,
                {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"},
                log_dir / f"{role}.log",
            )
        )
    return procs


def process_tree(pid: int) -> set[int]:
    """`pid` and its descendants: a worker that `onair worker` restarted under the same supervisor has a
    new pid here."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        found.add(current := todo.pop())
        todo += parents.get(current, [])
    return found


def disabled_streams(simulator: Simulator, count: int) -> list[str]:
    """`count` new streams on the simulator, all disabled (what an enable must change)."""

    def one(_: int) -> str:
        with FastPixClient(simulator.base_url, *simulator.credentials) as api:
            stream_id = api.create_stream().stream_id
            api.disable_stream(stream_id)
            return stream_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def schedule_enables(
    engine: sa.Engine,
    streams: list[str],
    first_due: datetime,
    spread: timedelta,
    slot: timedelta = timedelta(minutes=30),
) -> dict[str, datetime]:
    """One broadcast per stream (lead 0), starts spread evenly over `spread` from `first_due`, written
    in plain SQL as an operator would. The enable is due at the start; its deadline is the end."""
    step = spread / max(1, len(streams) - 1) if len(streams) > 1 else timedelta(0)
    due = {stream: first_due + step * i for i, stream in enumerate(streams)}
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            # The scheduler's stream sync may have seen them first (both backends know ON CONFLICT).
            sa.text(
                "INSERT INTO streams (stream_id, status, last_seen_at) VALUES (:s, 'disabled', :t) "
                "ON CONFLICT (stream_id) DO NOTHING"
            ),
            # In stream id order, as the scheduler's sync writes them: two writers never lock in
            # opposite orders (which PostgreSQL ends as a deadlock).
            [{"s": s, "t": sql_time(engine, now)} for s in sorted(streams)],
        )
        conn.execute(
            sa.text(
                "INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds) VALUES (:s, :a, :b, 0)"
            ),
            [{"s": s, "a": sql_time(engine, at), "b": sql_time(engine, at + slot)} for s, at in due.items()],
        )
    return due


@dataclass(frozen=True)
class ActionRow:
    id: int
    stream_id: str
    state: str
    outcome: str | None
    last_error: str | None
    attempts: int
    due_at: datetime
    deadline_at: datetime


def enable_rows(engine: sa.Engine, streams: Iterable[str]) -> dict[str, ActionRow]:
    wanted = set(streams)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, stream_id, state, outcome, last_error, attempts, due_at, deadline_at "
                "FROM actions WHERE kind = 'enable'"
            )
        ).all()
    found: dict[str, ActionRow] = {}
    for r in rows:
        if r.stream_id in wanted:
            due, deadline = (
                v if isinstance(v, datetime) else datetime.fromisoformat(v).replace(tzinfo=UTC)
                for v in (r.due_at, r.deadline_at)
            )
            found[r.stream_id] = ActionRow(
                r.id, r.stream_id, r.state, r.outcome, r.last_error, r.attempts, due, deadline
            )
    return found


def all_settled(engine: sa.Engine, streams: list[str]) -> bool:
    rows = enable_rows(engine, streams)
    return len(rows) == len(streams) and all(r.state in SETTLED for r in rows.values())


def wait_settled(
    engine: sa.Engine, streams: list[str], procs: tuple[Proc, ...], after: str, timeout: float = 90.0
) -> None:
    wait_for(f"every enable to settle after {after}", lambda: all_settled(engine, streams), timeout, procs)


def event_count(engine: sa.Engine, event: str, action_ids: Iterable[int] | None = None) -> int:
    with engine.connect() as conn:
        query = sa.text("SELECT action_id FROM action_events WHERE event = :e")
        ids = [r[0] for r in conn.execute(query, {"e": event})]
    if action_ids is None:
        return len(ids)
    wanted = set(action_ids)
    return sum(1 for i in ids if i in wanted)


@dataclass
class Tally:
    """What happened to each stream's enable, from the simulator's log and the ledger."""

    fault: str
    calls: dict[str, list[CallRecord]]
    rows: dict[str, ActionRow]
    effects: Counter[str] = field(default_factory=Counter)

    @classmethod
    def take(
        cls, fault: str, simulator: Simulator, engine: sa.Engine, streams: list[str], since: int
    ) -> Tally:
        wanted = set(streams)
        calls: dict[str, list[CallRecord]] = {s: [] for s in streams}
        for call in simulator.calls(since):
            if call.stream_id in wanted:
                calls[call.stream_id].append(call)
        tally = cls(fault, calls, enable_rows(engine, streams))
        for stream, log in calls.items():
            tally.effects[stream] = sum(
                1 for c in log if c.endpoint in CHANGING and c.status_before != c.status_after
            )
        return tally

    def exactly_once(self) -> list[str]:
        return [s for s in self.calls if self.effects[s] == 1 and self._row_state(s) == "succeeded"]

    def with_reason(self) -> list[str]:
        return [
            s
            for s in self.calls
            if self.effects[s] == 0 and self._row_state(s) in ("failed", "missed") and self.rows[s].outcome
        ]

    def _row_state(self, stream: str) -> str | None:
        row = self.rows.get(stream)
        return row.state if row else None

    def summary(self, **extra: object) -> str:
        doubled = sum(1 for s in self.calls if self.effects[s] > 1)
        once, reasoned = len(self.exactly_once()), len(self.with_reason())
        lost = len(self.calls) - once - reasoned - doubled
        extras = "".join(f", {k}={v}" for k, v in extra.items())
        return (
            f"[fault: {self.fault}] actions={len(self.calls)} exactly_once={once} "
            f"recorded_reason={reasoned} doubled={doubled} lost_or_unexplained={lost}{extras}"
        )

    def offenders(self, limit: int = 5) -> str:
        bad = [s for s in self.calls if s not in set(self.exactly_once()) | set(self.with_reason())][:limit]
        lines = []
        for s in bad:
            row = self.rows.get(s)
            state = f"{row.state} ({row.outcome}; {row.last_error})" if row else "no ledger row"
            log = ", ".join(
                f"{c.endpoint}:{c.http_status}:{c.status_before}->{c.status_after}" for c in self.calls[s]
            )
            lines.append(f"  {s[:8]}: effects={self.effects[s]} ledger={state} calls=[{log}]")
        return "\n".join(lines)

    def assert_no_loss_no_double(self, **extra: object) -> str:
        """Every action had exactly one effect or ended failed/missed with a reason; print the count."""
        line = self.summary(**extra)
        print(line)
        explained = set(self.exactly_once()) | set(self.with_reason())
        assert len(explained) == len(self.calls), f"{line}\n{self.offenders()}"
        return line


def lateness(tally: Tally, due: Mapping[str, datetime]) -> dict[str, float]:
    """Seconds from each stream's due instant to the call that changed it (streams with an effect)."""
    late = {}
    for stream, log in tally.calls.items():
        effective = [c for c in log if c.endpoint in CHANGING and c.status_before != c.status_after]
        if effective:
            late[stream] = (arrival(effective[0]) - due[stream]).total_seconds()
    return late


def new_broadcast_fires(
    engine: sa.Engine, simulator: Simulator, procs: tuple[Proc, ...], *, in_seconds: float = 8.0
) -> float:
    """Schedule one more enable and wait for it to land: a worker consumes. Its lateness, seconds."""
    [stream] = disabled_streams(simulator, 1)
    since = simulator.last_seq()
    due = schedule_enables(engine, [stream], datetime.now(UTC) + timedelta(seconds=in_seconds), timedelta(0))
    wait_settled(engine, [stream], procs, "a broadcast added after the fault", timeout=60)
    [call] = [c for c in simulator.calls(since, stream_id=stream) if c.endpoint == "enable"]
    return (arrival(call) - due[stream]).total_seconds()

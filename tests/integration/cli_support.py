"""Shared by the CLI tests: the `onair` command run in-process against one migrated database (SQLite
or PostgreSQL), and the checks every command's output is held to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner, Result

from tests.integration.store_support import backend_url
from worker.cli.main import app
from worker.store.db import make_engine, transaction
from worker.store.migrate import upgrade
from worker.store.models import Action, Stream

STREAM = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
TABLES = ("streams", "broadcasts", "off_hours", "actions", "action_events")
NO_FASTPIX = {"FASTPIX_ACCESS_TOKEN_ID": "", "FASTPIX_SECRET_KEY": ""}


class Onair:
    """The `onair` command against one database (and, when given, one FastPix)."""

    def __init__(self, url: str, engine: Engine, fastpix: dict[str, str] | None = None) -> None:
        self.url = url
        self.engine = engine
        self.fastpix = fastpix if fastpix is not None else NO_FASTPIX

    def __call__(self, *args: str, **env: str) -> Result:
        return CliRunner().invoke(
            app, list(args), env={"ONAIR_DATABASE_URL": self.url, "TZ": "UTC", **self.fastpix, **env}
        )

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def add_stream(self, stream_id: str = STREAM, name: str | None = "morning show") -> None:
        with transaction(self.engine) as session:
            session.add(Stream(stream_id=stream_id, name=name, status="idle"))

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.engine.connect() as conn:
            return {
                t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))] for t in TABLES
            }

    def actions(self, **where: Any) -> list[Action]:
        with transaction(self.engine, immediate=False) as session:
            query = select(Action).filter_by(**where).order_by(Action.due_at, Action.sequence)
            return list(session.scalars(query))


def migrated(url: str) -> Iterator[Onair]:
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield Onair(url, engine)
    finally:
        engine.dispose()


def migrated_on_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    """For a fixture parametrised over store_support.BACKENDS: `onair` on that backend's database."""
    yield from migrated(backend_url(request, tmp_path))


def migrated_sqlite(tmp_path: Path) -> Iterator[Onair]:
    yield from migrated(f"sqlite:///{tmp_path}/onair.db")


def assert_one_line_error(result: Result, *expected: str) -> str:
    """Exit 1 with exactly one `error: ...` line on stderr holding every fragment, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in expected:
        assert fragment in lines[0], lines[0]
    return lines[0]


def upcoming_hour(hours_ahead: int) -> datetime:
    """A whole hour comfortably in the future, in UTC."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now + timedelta(hours=hours_ahead)


def add_broadcast(onair: Onair, start: datetime, end: datetime, *extra: str) -> dict[str, Any]:
    args = ["broadcast", "add", "--stream", STREAM, "--start", start.isoformat(), "--end", end.isoformat()]
    data: dict[str, Any] = onair.json(*args, *extra)
    return data

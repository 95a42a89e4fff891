"""`onair db upgrade | current | downgrade` against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from typer.testing import CliRunner

from worker.cli.db import app
from worker.store.migrate import head_revision

runner = CliRunner()


def test_current_upgrade_downgrade_on_sqlite(sqlite_url: str) -> None:
    before = runner.invoke(app, ["current", "--url", sqlite_url])
    upgraded = runner.invoke(app, ["upgrade", "--url", sqlite_url])
    after = runner.invoke(app, ["current", "--url", sqlite_url])
    downgraded = runner.invoke(app, ["downgrade", "base", "--url", sqlite_url])

    head = head_revision()
    assert (before.exit_code, upgraded.exit_code, after.exit_code, downgraded.exit_code) == (1, 0, 0, 0)
    assert f"schema at none, onair needs {head} (run `onair db upgrade`)" in before.output
    assert f"schema at {head}, onair needs {head} (up to date)" in after.output
    assert "base (no tables)" in downgraded.output


def test_upgrade_on_postgresql_hides_the_password(postgres_url: str) -> None:
    result = runner.invoke(app, ["upgrade", "--url", postgres_url.replace("postgres@", "postgres:sekrit@")])

    assert result.exit_code == 0, result.output
    assert f"schema at {head_revision()}" in result.output
    assert "sekrit" not in result.output


def test_an_unreachable_database_is_one_clear_line() -> None:
    result = runner.invoke(app, ["upgrade", "--url", "postgresql://onair@127.0.0.1:1/none"])

    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "Connection refused" in result.output
    assert result.output.count("\n") == 1

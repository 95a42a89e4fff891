"""`onair doctor`: is everything onair needs up? One line per check; exit 1 on a failure (or, with
--strict, on a warning)."""

from __future__ import annotations

import json

import typer

from worker.cli.timeline import read_settings
from worker.config import FastPixSettings, OnairSettings
from worker.service.health import CHECKS, Doctor
from worker.service.logs import configure_cli


def _ping_workers(settings: OnairSettings, timeout: float) -> list[str]:
    from worker.celery_app import ping_workers  # only with a broker: it loads the whole Celery app

    return ping_workers(settings, timeout)


def doctor(
    only: str = typer.Option(
        "", "--only", help=f"Comma-separated checks to run (default all): {', '.join(CHECKS)}."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object with every check."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 on a warning too (invalid schedule rows, recent failed actions)."
    ),
) -> None:
    """Check the database, broker, FastPix credentials, beat, workers, backlog, planner, schedule rows and
    recent failures; exit 1 on a failure (or, with --strict, on a warning)."""
    settings = read_settings()
    configure_cli(settings.log_format)
    names = [n.strip() for n in only.split(",") if n.strip()] or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        typer.echo(f"error: unknown check {', '.join(unknown)}; known: {', '.join(CHECKS)}", err=True)
        raise typer.Exit(2)
    results = Doctor(settings, FastPixSettings(), ping_workers=_ping_workers).run(names)
    healthy = all(r.ok and not (strict and r.warning) for r in results)
    if as_json:
        checks = [
            {"check": r.name, "ok": r.ok, "warning": r.warning, "detail": r.detail, **r.data} for r in results
        ]
        typer.echo(json.dumps({"ok": healthy, "checks": checks}, indent=2))
    else:
        for result in results:
            typer.echo(result.line())
    raise typer.Exit(0 if healthy else 1)

"""`onair report`: what happened over a period (default the last 12 h), for a person or a script."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.cli import output
from worker.cli.timeline import AsJson, TzOption, open_store, parse_since
from worker.cli.timeparse import BadInput, display_zone
from worker.clock import SystemClock
from worker.service.report import build_report
from worker.service.report_text import render


def report(
    since: Annotated[str, typer.Option("--since", help="From a time, or this long ago (12h, 90m).")] = "12h",
    until: Annotated[
        str | None, typer.Option("--until", help="Until a time, or this long ago (default: now).")
    ] = None,
    tz: TzOption = None,
    as_json: AsJson = False,
) -> None:
    """Each broadcast planned against what happened (with each act's lateness), failed and missed
    actions with their causes, invalid schedule rows, scheduler and planner gaps, and totals."""
    now = SystemClock().now()
    with output.reporting(BadInput):
        start = parse_since(since, now, tz, what="--since")
        end = parse_since(until, now, tz, what="--until") or now
        zone = display_zone(tz)
        if start is None or start >= end:
            raise BadInput("--since must be before --until")
    with open_store() as (settings, engine):
        found = build_report(engine, settings, start, end)
    if as_json:
        output.print_json(found.to_json())
        return
    typer.echo(render(found, zone))

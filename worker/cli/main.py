"""`onair`: the operator's entry point. Each command group lives in its own module."""

from __future__ import annotations

import typer

from worker.cli import simulator, streams

app = typer.Typer(
    name="onair",
    help="Runs FastPix live streams on schedule, unattended.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(streams.app, name="streams")
app.command("simulator")(simulator.simulator)

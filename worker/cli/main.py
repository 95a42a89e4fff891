"""`onair`: the operator's entry point. Each command group lives in its own module."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from worker.cli import controls, db, demo, doctor, report, run, simulator, streams
from worker.cli.api import api
from worker.cli.book import book_app, organiser_app
from worker.cli.broadcast import broadcast_app
from worker.cli.importer import import_file
from worker.cli.offhours import offhours_app
from worker.cli.ops import ops_app
from worker.cli.series import series_app
from worker.cli.timeline import history, plan
from worker.config import bad_settings_line
from worker.service.logs import configure_cli_logging

app = typer.Typer(
    name="onair",
    help="Runs FastPix live streams on schedule, unattended.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _logging() -> None:
    """Runs FastPix live streams on schedule, unattended."""
    configure_cli_logging()


# The controls (worker/cli/controls.py), added to their command groups.
streams.app.command("pause")(controls.pause)
streams.app.command("resume")(controls.resume)
broadcast_app.command("move")(controls.move)
broadcast_app.command("edit")(controls.edit)
book_app.command("move")(controls.move_booking)
offhours_app.command("edit")(controls.edit_off_hours)
organiser_app.command("rotate")(controls.rotate)
organiser_app.command("restore")(controls.restore)

app.add_typer(streams.app, name="streams")
app.add_typer(broadcast_app, name="broadcast")
app.add_typer(offhours_app, name="offhours")
app.add_typer(series_app, name="series")
app.add_typer(book_app, name="book")
app.add_typer(organiser_app, name="organiser")
app.add_typer(controls.action_app, name="action")
app.add_typer(ops_app, name="ops")
app.command("plan")(plan)
app.command("history")(history)
app.command("report")(report.report)
app.command("import")(import_file)
app.add_typer(db.app, name="db")
app.command("simulator")(simulator.simulator)
app.command("run")(run.run)
app.command("worker")(run.worker)
app.command("demo")(demo.demo)
app.command("doctor")(doctor.doctor)
app.command("api")(api)


def main() -> None:
    """The `onair` command: a setting that does not parse, read wherever a command reads it, ends the
    command with one `error:` line naming the variable instead of a traceback."""
    try:
        app()
    except ValidationError as exc:
        line = bad_settings_line(exc)
        if line is None:
            raise
        sys.stderr.write(f"error: {line}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()

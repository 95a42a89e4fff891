"""`onair ... --help` reads like a CLI's help: flags without a value placeholder, required options marked."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from worker.cli.main import app


# Typer may carry its own copy of click, so commands and options are recognised by their attributes.
def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, group)]
    for name, command in getattr(group, "commands", {}).items():
        found += _commands(command, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "onair" for p, _ in COMMANDS])
def test_help_shows_flags_as_flags_and_marks_required_options(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    for param in command.params:
        if param.param_type_name == "option" and param.required and not param.hidden:
            line = next(line for line in result.output.splitlines() if param.opts[0] + " " in line)
            assert "*" in line or "[required]" in line, line

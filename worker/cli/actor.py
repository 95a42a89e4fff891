"""Who runs a command: the `actor` its changes carry in the history."""

from __future__ import annotations

import getpass


def who() -> str:
    """The OS user running the command: the `actor` of its history."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"

"""The one error a change to a schedule raises when its input cannot be used.

Every service function that takes what a person typed (the CLI's options, the API's JSON, a row of an
imported file) checks it before writing anything and raises `InvalidInput`, whose `problems` name each
field at fault. The CLI prints the messages on one `error:` line; the API answers 422 with one entry a
field. So one input gets one answer whichever door it came through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from worker.store import slots


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input field, said so that the person can fix it."""

    field: str
    message: str


class InvalidInput(ValueError):
    """The input cannot be used as given; nothing was changed. `problems` names each field at fault;
    the message is their messages joined (a person reads it as one line)."""

    def __init__(self, problems: str | Sequence[Problem], *, field: str = "input") -> None:
        found = [Problem(field, problems)] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(p.message for p in found))
        self.problems = found


def refuse(problems: Sequence[Problem]) -> None:
    """Raise InvalidInput naming every problem, if there are any."""
    if problems:
        raise InvalidInput(problems)


# A slot that overlaps another on its stream (lead included) is refused by the store (and by the
# database itself); the message names the slot in the way, `conflicting_ids` their ids.
SlotConflict = slots.SlotConflict

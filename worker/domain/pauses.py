"""Pausing a stream, as rules: when a pause holds, what an action that falls due meanwhile becomes,
and which of those actions a resume brings back.

A pause holds from when it was made until it is resumed or its `until` passes. While it holds onair
sends the stream no act at all: every action that falls due ends `skipped: paused (note)`, and a
broadcast live when the pause began is left as it is (its finish is skipped too). On resume, an
action skipped by the pause runs after all if it is still useful: it is before its deadline, and it
starts or shapes a slot (an enable, a metadata update, an off-hours disable). A finish or restore is
not brought back: the broadcast it would end was left to the operator while the stream was paused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from worker.domain.text import control_character_problem
from worker.domain.types import ActionKind, ActionState

NOTE_MAX_CHARS = 500
PAUSED = "paused"
# What an ended pause brings back: acts that start or shape a slot still under way.
REVIVED_KINDS = frozenset({ActionKind.ENABLE, ActionKind.UPDATE, ActionKind.DISABLE})


@dataclass(frozen=True)
class Pause:
    stream_id: str
    paused_at: datetime
    paused_by: str
    note: str | None = None
    until: datetime | None = None


def holds(pause: Pause, now: datetime) -> bool:
    """True while the pause is in force (it has no `until`, or its `until` is still ahead)."""
    return pause.until is None or now < pause.until


def skipped_outcome(note: str | None) -> str:
    """The outcome of an action that fell due while its stream was paused: `paused (the note)`."""
    return f"{PAUSED} ({note})" if note else PAUSED


def is_paused_outcome(state: str, outcome: str | None) -> bool:
    return (
        state == ActionState.SKIPPED.value
        and outcome is not None
        and (outcome == PAUSED or outcome.startswith(f"{PAUSED} ("))
    )


def revives(kind: str, deadline_at: datetime, now: datetime) -> bool:
    """Whether an action the pause skipped runs after all when the stream resumes at `now`."""
    return ActionKind(kind) in REVIVED_KINDS and now < deadline_at


def pause_problems(until: datetime | None, note: str | None, now: datetime) -> list[tuple[str, str]]:
    """(field, reason) for each thing wrong with a pause as asked; empty when it can be made."""
    problems = []
    if until is not None and until <= now:
        problems.append(
            (
                "until",
                f"until {until.isoformat()} is not in the future (now {now.isoformat(timespec='seconds')})",
            )
        )
    if note is not None:
        control = control_character_problem(note, "note")
        if control:
            problems.append(("note", control))
        elif len(note) > NOTE_MAX_CHARS:
            problems.append(("note", f"note has {len(note)} characters; at most {NOTE_MAX_CHARS}"))
    return problems


def describe(pause: Pause) -> str:
    """`paused by ada since 2026-11-30 10:00 UTC until 11:00 UTC: encoder swap`."""
    until = f" until {pause.until:%Y-%m-%d %H:%M:%S} UTC" if pause.until else " until resumed"
    note = f": {pause.note}" if pause.note else ""
    return f"paused by {pause.paused_by} since {pause.paused_at:%Y-%m-%d %H:%M:%S} UTC{until}{note}"

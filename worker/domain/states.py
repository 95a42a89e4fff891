"""The action state machine. Every state change goes through `transition`, which refuses illegal moves.

    pending  -> claimed | cancelled | superseded | missed
    claimed  -> pending (retry later, or lease expired) | succeeded | failed | skipped | missed | superseded
    succeeded, failed, skipped, missed, superseded, cancelled: terminal, never move again

A claimed action is not cancelled: its call may already be in flight. It finishes (or is superseded),
and the history says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from worker.domain.types import TERMINAL_STATES, ActionState

S = ActionState

ALLOWED: Mapping[ActionState, frozenset[ActionState]] = {
    S.PENDING: frozenset({S.CLAIMED, S.CANCELLED, S.SUPERSEDED, S.MISSED}),
    S.CLAIMED: frozenset({S.PENDING, S.SUCCEEDED, S.FAILED, S.SKIPPED, S.MISSED, S.SUPERSEDED}),
    **{state: frozenset() for state in TERMINAL_STATES},
}


class IllegalTransition(ValueError):
    def __init__(self, current: ActionState, target: ActionState) -> None:
        self.current = current
        self.target = target
        if current in TERMINAL_STATES:
            why = f"{current.value} is final"
        else:
            allowed = ", ".join(sorted(s.value for s in ALLOWED[current]))
            why = f"from {current.value} only {allowed}"
        super().__init__(f"illegal transition {current.value} -> {target.value}: {why}")


def can_transition(current: ActionState, target: ActionState) -> bool:
    return target in ALLOWED[ActionState(current)]


def transition(current: ActionState, target: ActionState) -> ActionState:
    """`target`, if the move from `current` is legal; IllegalTransition otherwise."""
    current, target = ActionState(current), ActionState(target)
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
    return target


def is_terminal(state: ActionState) -> bool:
    return ActionState(state) in TERMINAL_STATES

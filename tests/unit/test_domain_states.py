"""The action state machine refuses every move the lifecycle does not allow."""

from __future__ import annotations

import itertools

import pytest

from worker.domain.states import IllegalTransition, can_transition, is_terminal, transition
from worker.domain.types import TERMINAL_STATES, ActionState

S = ActionState
LEGAL = {
    (S.PENDING, S.CLAIMED),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.SUPERSEDED),
    (S.PENDING, S.MISSED),
    (S.CLAIMED, S.PENDING),
    (S.CLAIMED, S.SUCCEEDED),
    (S.CLAIMED, S.FAILED),
    (S.CLAIMED, S.SKIPPED),
    (S.CLAIMED, S.MISSED),
    (S.CLAIMED, S.SUPERSEDED),
}


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_legal_moves_are_allowed(current: ActionState, target: ActionState) -> None:
    assert transition(current, target) is target
    assert can_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [p for p in itertools.product(S, S) if p not in LEGAL])
def test_every_other_move_is_refused(current: ActionState, target: ActionState) -> None:
    with pytest.raises(IllegalTransition) as raised:
        transition(current, target)
    assert str(raised.value).startswith(f"illegal transition {current.value} -> {target.value}: ")
    assert not can_transition(current, target)


def test_terminal_states_say_they_are_final() -> None:
    with pytest.raises(
        IllegalTransition, match="illegal transition succeeded -> pending: succeeded is final"
    ):
        transition(S.SUCCEEDED, S.PENDING)
    assert all(is_terminal(s) for s in TERMINAL_STATES)
    assert not is_terminal(S.PENDING) and not is_terminal(S.CLAIMED)


def test_a_running_action_cannot_be_cancelled() -> None:
    with pytest.raises(IllegalTransition, match="from claimed only failed, missed, pending, skipped"):
        transition(S.CLAIMED, S.CANCELLED)


def test_states_from_the_database_are_accepted_as_text() -> None:
    assert transition("pending", "claimed") is S.CLAIMED  # type: ignore[arg-type]

"""Check-then-act: what to call given the observed status, what a refusal means, and supersession."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.domain.decisions import Call, Endpoint, NoOp, decide, interpret_error, supersedes
from worker.domain.metadata import MergeRecord
from worker.domain.types import KIND_SEQUENCE, ActionKind, ActionState, PlannedAction, Source

E, D, F, U = ActionKind.ENABLE, ActionKind.DISABLE, ActionKind.FINISH, ActionKind.UPDATE
OK, SKIP, FAIL = ActionState.SUCCEEDED, ActionState.SKIPPED, ActionState.FAILED
PAYLOAD = {"metadata": {"title": "Morning"}, "reconnectWindow": 120}
MERGED = MergeRecord(before={}, applied={"title": "Morning"})


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        (E, "disabled", Call(Endpoint.ENABLE)),
        (E, "idle", NoOp("already enabled", OK)),
        (E, "preparing", NoOp("already enabled", OK)),
        (E, "active", NoOp("already enabled", OK)),
        (D, "disabled", NoOp("already disabled", OK)),
        (D, "idle", Call(Endpoint.DISABLE)),
        (D, "active", Call(Endpoint.DISABLE)),
        (F, "active", Call(Endpoint.FINISH)),
        (F, "preparing", Call(Endpoint.FINISH)),
        (F, "idle", NoOp("not live at end", SKIP)),
        (F, "disabled", NoOp("not live at end", SKIP)),
        (U, "idle", Call(Endpoint.UPDATE, PAYLOAD, MERGED)),
        (U, "active", Call(Endpoint.UPDATE, PAYLOAD, MERGED)),
        (U, "disabled", NoOp("stream is disabled; metadata not applied", FAIL)),
        # An unknown status: FastPix decides, and its refusal is interpreted.
        (E, "rebooting", Call(Endpoint.ENABLE)),
        (E, " Idle ", NoOp("already enabled", OK)),
    ],
)
def test_decide(kind: ActionKind, status: str, expected: Call | NoOp) -> None:
    assert decide(kind, status, PAYLOAD if kind is U else None) == expected


def test_update_without_payload_is_skipped() -> None:
    assert decide(U, "idle", None) == NoOp("nothing to update", SKIP)


def test_update_call_carries_a_copy_of_the_payload() -> None:
    payload = {"metadata": {"a": "b"}}
    call = decide(U, "idle", payload)
    assert isinstance(call, Call) and call.payload == payload and call.payload is not payload


@pytest.mark.parametrize(
    ("kind", "classification", "message", "expected"),
    [
        (
            E,
            "already_in_state",
            "FastPix 400 on PUT …: stream is already enabled",
            NoOp("already enabled", OK),
        ),
        (
            D,
            "already_in_state",
            "FastPix 400 on PUT …: stream already disabled",
            NoOp("already disabled", OK),
        ),
        (
            F,
            "permanent",
            "FastPix 400: stream cannot be completed (Only active streams can be marked as completed.)",
            NoOp("not live at end", SKIP),
        ),
        (
            U,
            "permanent",
            "FastPix 400: cannot update a disabled stream",
            NoOp(
                "stream is disabled; metadata not applied: FastPix 400: cannot update a disabled stream", FAIL
            ),
        ),
        (
            E,
            "permanent",
            "FastPix 404 on PUT …: stream not found",
            NoOp("FastPix 404 on PUT …: stream not found", FAIL),
        ),
        (
            D,
            "permanent",
            "FastPix 401 on PUT …: unauthorized",
            NoOp("FastPix 401 on PUT …: unauthorized", FAIL),
        ),
    ],
)
def test_interpret_error(kind: ActionKind, classification: str, message: str, expected: NoOp) -> None:
    assert interpret_error(kind, classification, message) == expected


T0 = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


def action(kind: ActionKind, minutes: int = 0, stream: str = "s1") -> PlannedAction:
    due = T0 + timedelta(minutes=minutes)
    return PlannedAction(
        f"k:{kind}:{minutes}",
        stream,
        kind,
        Source.OFF_HOURS,
        1,
        due,
        due + timedelta(hours=1),
        "r",
        sequence=KIND_SEQUENCE[kind],
    )


@pytest.mark.parametrize(
    ("later", "earlier"),
    [(E, D), (D, E), (D, F), (D, U), (E, F), (F, U), (U, U), (E, E), (D, D), (F, F)],
)
def test_a_later_action_supersedes_an_earlier_one_it_makes_moot(
    later: ActionKind, earlier: ActionKind
) -> None:
    assert supersedes(action(later, 30), action(earlier, 0))


@pytest.mark.parametrize(("later", "earlier"), [(U, E), (E, U), (F, D), (U, D), (U, F)])
def test_a_later_action_does_not_supersede_one_it_does_not_replace(
    later: ActionKind, earlier: ActionKind
) -> None:
    assert not supersedes(action(later, 30), action(earlier, 0))


def test_supersession_needs_the_same_stream_and_a_later_position() -> None:
    assert not supersedes(action(D, 30, stream="s2"), action(E, 0))
    assert not supersedes(action(D, 0), action(E, 30))
    # Same instant: the sequence decides. A disable after a finish at an off-hours start moves on;
    # an update never overtakes the enable it needs.
    assert supersedes(action(D, 0), action(F, 0))
    assert not supersedes(action(F, 0), action(D, 0))
    assert not supersedes(action(U, 0), action(E, 0))

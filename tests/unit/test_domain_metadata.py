"""A broadcast's metadata: merged into the stream's at its start, put back at its end."""

from __future__ import annotations

import pytest

from tests.unit.test_domain_decisions import action
from worker.domain.decisions import Call, Endpoint, NoOp, decide, interpret_error, supersedes
from worker.domain.metadata import MergeRecord, MergeRefused, describe, merge, restore
from worker.domain.types import ActionKind, ActionState

U, R = ActionKind.UPDATE, ActionKind.RESTORE
STREAM = {"name": "Main stage", "city": "Berlin"}


def test_merge_keeps_the_streams_own_keys_and_the_broadcast_wins_a_shared_one() -> None:
    assert merge(STREAM, {"show": "x", "city": "Hamburg"}) == {
        "name": "Main stage",
        "city": "Hamburg",
        "show": "x",
    }


def test_merge_over_ten_keys_is_refused_naming_the_keys_not_cut_down() -> None:
    stream = {f"k{i}": "v" for i in range(9)}
    assert len(merge(stream, {"show": "x"})) == 10
    with pytest.raises(MergeRefused) as refused:
        merge(stream, {"show": "x", "host": "Ana", "k0": "w"})
    message = str(refused.value)
    assert "11 keys; FastPix allows at most 10" in message
    assert "the broadcast adds host, show" in message


def test_restore_removes_added_keys_puts_changed_ones_back_and_keeps_the_rest() -> None:
    record = MergeRecord(before=dict(STREAM), applied={"show": "x", "city": "Hamburg"})
    during = {**STREAM, "show": "x", "city": "Hamburg"}
    assert restore(during, record) == STREAM


def test_restore_respects_a_hand_edit_made_during_the_broadcast() -> None:
    record = MergeRecord(before=dict(STREAM), applied={"show": "x", "city": "Hamburg"})
    # Someone renamed the show and removed the city by hand, and added a key of their own.
    edited = {"name": "Main stage", "show": "y", "extra": "1"}
    assert restore(edited, record) == edited
    # A key the broadcast never touched is never changed, even one edited by hand.
    renamed = {"name": "Side stage", "city": "Hamburg", "show": "x"}
    assert restore(renamed, record) == {"name": "Side stage", "city": "Berlin"}


def test_restore_is_idempotent() -> None:
    record = MergeRecord(before=dict(STREAM), applied={"show": "x", "city": "Hamburg"})
    once = restore({**STREAM, "show": "x", "city": "Hamburg"}, record)
    assert restore(once, record) == once == STREAM


def test_a_key_set_to_the_value_it_already_had_stays() -> None:
    record = MergeRecord(before={"name": "Main stage"}, applied={"name": "Main stage", "show": "x"})
    assert restore({"name": "Main stage", "show": "x"}, record) == {"name": "Main stage"}


def test_record_round_trips_and_foreign_text_is_no_record() -> None:
    record = MergeRecord(before=dict(STREAM), applied={"show": "x"})
    assert MergeRecord.from_json(record.to_json()) == record
    for text in (None, "", "not json", "[]", '{"metadata_before": {"a": 1}, "metadata_applied": {}}', "{}"):
        assert MergeRecord.from_json(text) is None


def test_describe_shows_the_whole_change() -> None:
    assert describe({"name": "M"}, {"name": "M", "show": "x"}) == (
        'metadata {"name": "M"} -> {"name": "M", "show": "x"}'
    )


# --- check-then-act -------------------------------------------------------------------------------


def test_update_merges_into_the_metadata_read_and_records_what_was_there() -> None:
    payload = {"metadata": {"show": "x"}, "reconnectWindow": 120}
    call = decide(U, "idle", payload, metadata=dict(STREAM))
    assert call == Call(
        Endpoint.UPDATE,
        {"metadata": {**STREAM, "show": "x"}, "reconnectWindow": 120},
        MergeRecord(before=dict(STREAM), applied={"show": "x"}),
    )


def test_a_retried_update_keeps_the_first_attempts_before_values() -> None:
    # Attempt 1 merged (the answer was lost); attempt 2 reads the merged metadata.
    first = MergeRecord(before=dict(STREAM), applied={"show": "x"})
    call = decide(U, "idle", {"metadata": {"show": "x"}}, metadata={**STREAM, "show": "x"}, record=first)
    assert isinstance(call, Call) and call.record == first


def test_an_update_over_ten_keys_fails_with_its_cause() -> None:
    stream = {f"k{i}": "v" for i in range(10)}
    outcome = decide(U, "idle", {"metadata": {"show": "x"}}, metadata=stream)
    assert isinstance(outcome, NoOp) and outcome.state is ActionState.FAILED
    assert "11 keys; FastPix allows at most 10" in outcome.outcome


def test_an_update_of_the_reconnect_window_alone_records_no_merge() -> None:
    assert decide(U, "idle", {"reconnectWindow": 90}, metadata=dict(STREAM)) == Call(
        Endpoint.UPDATE, {"reconnectWindow": 90}
    )


def test_restore_puts_the_metadata_back_with_a_patch() -> None:
    record = MergeRecord(before=dict(STREAM), applied={"show": "x"})
    call = decide(R, "idle", {"merged_by": "k"}, metadata={**STREAM, "show": "x"}, record=record)
    assert call == Call(Endpoint.UPDATE, {"metadata": STREAM})


@pytest.mark.parametrize(
    ("status", "metadata", "record", "expected"),
    [
        # The update never merged (failed, missed, cancelled): nothing to put back.
        (
            "idle",
            {"show": "x"},
            None,
            NoOp("the broadcast's metadata was never applied: nothing to put back", ActionState.SKIPPED),
        ),
        # A retry after a lost answer finds the work done.
        (
            "idle",
            STREAM,
            MergeRecord(dict(STREAM), {"show": "x"}),
            NoOp("metadata already as before the broadcast", ActionState.SUCCEEDED),
        ),
        (
            "disabled",
            STREAM,
            MergeRecord(dict(STREAM), {"show": "x"}),
            NoOp("metadata already as before the broadcast", ActionState.SUCCEEDED),
        ),
        # Disabled with the broadcast's keys still on it: FastPix refuses the PATCH; fail and alert.
        (
            "disabled",
            {**STREAM, "show": "x"},
            MergeRecord(dict(STREAM), {"show": "x"}),
            NoOp("stream is disabled; metadata not restored", ActionState.FAILED),
        ),
    ],
)
def test_restore_without_a_call(
    status: str, metadata: dict[str, str], record: MergeRecord | None, expected: NoOp
) -> None:
    assert decide(R, status, {"merged_by": "k"}, metadata=metadata, record=record) == expected


def test_a_restore_refused_on_a_disabled_stream_says_so() -> None:
    refused = interpret_error(R, "permanent", "FastPix 400: stream is disabled")
    assert refused.state is ActionState.FAILED
    assert refused.outcome.startswith("stream is disabled; metadata not restored")


def test_only_a_disable_supersedes_a_retrying_restore() -> None:
    for later in ActionKind:
        assert supersedes(action(later, 30), action(R, 0)) is (later is ActionKind.DISABLE)
    # A restore makes nothing moot either.
    for earlier in ActionKind:
        assert not supersedes(action(R, 30), action(earlier, 0))

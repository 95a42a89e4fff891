"""The rules every slot is held to, whichever door it came through (service.slots), and how a refusal
names its fields: the CLI, an import row and the booking API get the same answer for the same slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.cli.slot_input import read_slot
from worker.domain.specs import BroadcastSpec
from worker.service.bookings import BookingInput, booking_problems
from worker.service.errors import InvalidInput, Problem
from worker.service.slots import slot_problems

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STREAM = "a" * 32


def spec(start_h: float, end_h: float, *, lead_s: int = 300, title: str | None = None) -> BroadcastSpec:
    return BroadcastSpec(
        id=0,
        stream_id=STREAM,
        starts_at=NOW + timedelta(hours=start_h),
        ends_at=NOW + timedelta(hours=end_h),
        lead=timedelta(seconds=lead_s),
        title=title,
    )


def fields(problems: list[Problem]) -> dict[str, str]:
    return {p.field: p.message for p in problems}


def test_a_good_slot_has_no_problem() -> None:
    assert slot_problems(spec(1, 2), now=NOW, known_streams={STREAM}) == []


@pytest.mark.parametrize(
    ("slot", "field", "says"),
    [
        (spec(3, 2), "end", "is not after start"),
        (spec(-1, 2), "start", "is in the past"),
        (spec(1, 2, lead_s=-5), "lead", "is negative"),
        (spec(1, 2, title="x" * 256), "title", "has 256 characters; at most 255"),
        (spec(1, 2, title="a\x1bb"), "title", "control character"),
        (spec(1, 24 * 7 + 1), "end", "at most 7 days: split it"),
    ],
)
def test_each_problem_names_its_field(slot: BroadcastSpec, field: str, says: str) -> None:
    found = slot_problems(slot, now=NOW, known_streams={STREAM})
    assert says in fields(found)[field]
    assert len(found) == 1, found  # one problem is said once (a control character is not also a length)


def test_an_unknown_stream_is_named_with_the_doors_hint() -> None:
    found = slot_problems(spec(1, 2), now=NOW, known_streams=set(), stream_hint=": ask ops")
    assert fields(found) == {"stream_id": f"unknown stream {STREAM!r}: ask ops"}


def test_the_past_is_refused_unless_allowed_and_a_move_of_the_end_alone_may_keep_a_past_start() -> None:
    assert "--allow-past" in fields(slot_problems(spec(-2, -1), now=NOW, past_advice="--allow-past"))["start"]
    assert slot_problems(spec(-2, -1), now=NOW, allow_past=True) == []
    assert slot_problems(spec(-1, 2), now=NOW, start_changed=False) == []
    ended = slot_problems(spec(-2, -1), now=NOW, start_changed=False)
    assert "end" in fields(ended) and "is in the past" in fields(ended)["end"]


def test_the_cli_and_the_api_refuse_the_same_slot_with_the_same_words() -> None:
    start, end = NOW + timedelta(hours=3), NOW + timedelta(hours=2)
    with pytest.raises(InvalidInput) as typed:
        read_slot(
            STREAM,
            start.isoformat(),
            end.isoformat(),
            tz=None,
            lead="5m",
            default_lead_seconds=300,
            now=NOW,
            allow_past=False,
        )
    api = booking_problems(BookingInput(STREAM, start, end, 300, None), now=NOW, known_streams={STREAM})
    assert [(p.field, p.message) for p in typed.value.problems] == [(p.field, p.message) for p in api]
    assert str(typed.value) == api[0].message


def test_the_api_names_the_lead_as_it_takes_it() -> None:
    found = booking_problems(
        BookingInput(STREAM, NOW + timedelta(hours=1), NOW + timedelta(hours=2), -5, None),
        now=NOW,
        known_streams={STREAM},
    )
    assert list(fields(found)) == ["lead_seconds"]


def test_invalid_input_reads_as_one_line_and_keeps_each_field() -> None:
    refused = InvalidInput([Problem("start", "start is late"), Problem("end", "end is early")])
    assert str(refused) == "start is late; end is early"
    assert [p.field for p in refused.problems] == ["start", "end"]
    assert InvalidInput("bad", field="stream_id").problems == [Problem("stream_id", "bad")]

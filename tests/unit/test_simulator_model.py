"""The simulated stream's status machine and timers, with fixed instants and no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from worker.simulator.faults import BadFault, parse_fault
from worker.simulator.model import Refused, Stream
from worker.simulator.state import SimState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def live_stream(max_duration: int = 0) -> Stream:
    stream = Stream.new(T0, max_duration=max_duration)
    stream.connect(T0, delay_seconds=0)
    stream.settle(T0)
    assert stream.status == "active"
    return stream


def test_refusals_carry_fastpix_texts() -> None:
    stream = Stream.new(T0)
    with pytest.raises(Refused, match="stream is already enabled"):
        stream.enable()
    with pytest.raises(Refused, match="stream cannot be completed"):
        stream.finish(T0)
    stream.disable(T0)
    with pytest.raises(Refused, match="stream already disabled"):
        stream.disable(T0)
    with pytest.raises(Refused, match="stream cannot be updated"):
        stream.update({"a": "b"}, None)


def test_live_time_counts_only_active_stretches() -> None:
    stream = live_stream(max_duration=100)
    stream.finish(at(30))
    stream.connect(at(50), delay_seconds=5)
    stream.settle(at(60))
    assert stream.live_time(at(60)) == pytest.approx(35)  # 30 + (60 - 55)
    stream.settle(at(125))  # 30 + 70 reaches 100 at t=125
    assert (stream.status, stream.live_time(at(200))) == ("disabled", pytest.approx(100))
    with pytest.raises(Refused, match="stream duration exceeded"):
        stream.enable()


def test_unbounded_streams_never_run_out() -> None:
    stream = live_stream()
    stream.settle(at(10**6))
    assert stream.status == "active"


def test_reconnect_window_is_cancelled_by_a_reconnect() -> None:
    stream = live_stream()
    stream.disconnect(at(10), window_seconds=60)
    stream.connect(at(30), delay_seconds=0)
    stream.settle(at(200))
    assert stream.status == "active"


def test_api_view_hides_unset_fields_and_repr_hides_keys() -> None:
    stream = Stream.new(T0)
    view = stream.to_api()
    assert "metadata" not in view and "simulcastResponses" not in view
    assert stream.stream_key not in repr(stream) and stream.srt_secret not in repr(stream)
    restored = Stream.from_state(stream.to_state())
    assert restored.to_api() == view


def test_fault_specs_are_checked() -> None:
    assert (
        parse_fault({"endpoint": "enable", "kind": "429", "count": 2, "retry_after": 3}, 1).retry_after == "3"
    )
    for spec, message in (
        ({"endpoint": "enable", "kind": "500"}, "exactly one of count"),
        ({"endpoint": "enable", "kind": "slow", "count": 1}, "positive delay"),
        ({"endpoint": "enable", "kind": "500", "count": 1, "retry_after": 3}, "only applies to kind 429"),
        ({"endpoint": "enable", "kind": "500", "fraction": 1.5}, "between 0 and 1"),
    ):
        with pytest.raises(BadFault, match=message):
            parse_fault(spec, 1)


def test_a_torn_call_log_line_is_ignored(tmp_path: Path) -> None:
    state_file = tmp_path / "sim.json"
    state = SimState(state_file)
    with state.lock:
        state.record_call({"endpoint": "get"})
    state.flush()
    calls_file = state_file.with_name("sim.calls.jsonl")
    calls_file.write_text(calls_file.read_text() + '{"seq": 2, "endp')
    reloaded = SimState(state_file)
    assert [c["seq"] for c in reloaded.calls] == [1]
    assert reloaded.next_seq == 2

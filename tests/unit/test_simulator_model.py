"""The simulated stream's status machine and timers, with fixed instants and no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from worker.simulator.faults import BadFault, parse_fault
from worker.simulator.model import Refused, Stream, iso_micro
from worker.simulator.ratelimit import SlidingWindow, retry_after_header
from worker.simulator.state import SimState
from worker.simulator.webhook_events import Event, Target, decode_secret, sign

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
        stream.enable(T0)
    with pytest.raises(Refused, match="stream cannot be completed"):
        stream.finish(T0)
    stream.disable(T0)
    with pytest.raises(Refused, match="stream already disabled"):
        stream.disable(T0)
    with pytest.raises(Refused, match="stream cannot be updated"):
        stream.update(T0, {"a": "b"}, None)


def test_live_time_counts_only_active_stretches() -> None:
    stream = live_stream(max_duration=100)
    stream.finish(at(30))
    stream.connect(at(50), delay_seconds=5)
    stream.settle(at(60))
    assert stream.live_time(at(60)) == pytest.approx(35)  # 30 + (60 - 55)
    stream.settle(at(125))  # 30 + 70 reaches 100 at t=125
    assert (stream.status, stream.live_time(at(200))) == ("disabled", pytest.approx(100))
    with pytest.raises(Refused, match="stream duration exceeded"):
        stream.enable(T0)


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


def events(stream: Stream) -> list[tuple[str, float, str]]:
    """The noted changes: event, seconds after T0, the status the event's data shows."""
    return [(c.event, (c.at - T0).total_seconds(), c.data["status"]) for c in stream.take_changes()]


def test_changes_are_noted_at_the_instant_they_happen_even_when_settled_late() -> None:
    stream = Stream.new(T0)
    assert events(stream) == [("created", 0, "idle")]
    stream.connect(at(1), delay_seconds=2)
    stream.settle(at(5))  # active since 3, found out at 5 (the simulator settles before every change)
    stream.disconnect(at(5), window_seconds=60)
    stream.settle(at(500))  # idle since 65
    assert events(stream) == [
        ("connected", 1, "preparing"),
        ("preparing", 1, "preparing"),
        ("recording", 3, "active"),
        ("active", 3, "active"),
        ("disconnected", 5, "active"),
        ("idle", 65, "idle"),
    ]
    stream.disconnect(at(501), window_seconds=60)  # no encoder: nothing to report
    assert events(stream) == []


def test_a_reconnect_within_the_window_resumes_the_broadcast() -> None:
    stream = live_stream()
    stream.take_changes()
    stream.disconnect(at(10), window_seconds=60)
    stream.connect(at(20), delay_seconds=5)
    stream.connect(at(21), delay_seconds=5)  # already connected: nothing new
    assert events(stream) == [
        ("disconnected", 10, "active"),
        ("connected", 20, "active"),
        ("active", 20, "active"),
    ]


def test_api_operations_note_their_events_and_the_snapshot_leaves_them_out() -> None:
    stream = Stream.new(T0, max_duration=60)
    stream.disable(at(1))
    stream.enable(at(2))
    stream.update(at(3), {"show": "x"}, None)
    stream.connect(at(4), delay_seconds=0)
    stream.settle(at(4))
    assert "changes" not in stream.to_state() and Stream.from_state(stream.to_state()).changes == []
    stream.settle(at(100))  # maxDuration reached at 64
    stream.delete(at(101))
    assert events(stream) == [
        ("created", 0, "idle"),
        ("disabled", 1, "disabled"),
        ("idle", 2, "idle"),
        ("updated", 3, "idle"),
        ("connected", 4, "preparing"),
        ("preparing", 4, "preparing"),
        ("recording", 4, "active"),
        ("active", 4, "active"),
        ("disabled", 64, "disabled"),
        ("deleted", 101, "disabled"),
    ]


def test_the_rate_window_admits_rps_requests_in_any_second() -> None:
    window = SlidingWindow()
    assert [window.admit(3, t) for t in (0.0, 0.1, 0.2)] == [None, None, None]
    assert window.admit(3, 0.5) == pytest.approx(0.5)  # the request at 0.0 leaves the window at 1.0
    assert window.admit(3, 1.0) is None  # refused requests did not count
    assert window.admit(3, 1.05) == pytest.approx(0.05)
    assert window.admit(None, 1.05) is None
    assert retry_after_header(0.05) == "1"


def test_a_webhook_body_is_signed_with_the_decoded_secret() -> None:
    key = b"\x00secret-bytes\xff"
    target = Target("http://receiver/", decode_secret(base64.b64encode(key).decode()))
    stream = Stream.new(T0)
    event = Event.of(stream.stream_id, stream.take_changes()[0])
    body = event.body(target, attempts=2)
    envelope = json.loads(body)
    assert envelope["type"] == "video.live_stream.created" and envelope["attempts"] == 2
    assert envelope["data"]["streamKey"] == stream.stream_key and envelope["created_at"] == iso_micro(T0)
    expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
    assert sign(target.key, body) == expected
    assert key.hex() not in repr(target) and "secret-bytes" not in repr(target)
    for bad in ("not base64!", ""):
        with pytest.raises(ValueError, match="webhook secret"):
            decode_secret(bad)


def test_the_state_settles_only_streams_with_timers_and_hands_changes_on(tmp_path: Path) -> None:
    state = SimState(tmp_path / "sim.json")
    seen: list[tuple[str, str]] = []
    with state.lock:
        waiting, quiet = Stream.new(T0), Stream.new(T0)
        for stream in (waiting, quiet):
            state.streams[stream.stream_id] = stream
            state.changed(stream)
        waiting.connect(at(1), delay_seconds=2)
        state.changed(waiting)
    state.flush()
    reloaded = SimState(tmp_path / "sim.json")  # a restart still knows which stream is waiting
    for current in (state, reloaded):
        current.on_changes = lambda sid, changes: seen.extend((sid, c.event) for c in changes)
        current.settle_due(at(3))
    assert seen == [(waiting.stream_id, "recording"), (waiting.stream_id, "active")] * 2
    assert reloaded.streams[waiting.stream_id].status == "active"

"""Injected server faults reach the scheduler as the right exception and classification."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.integration.simulator_fixture import Simulator
from worker.clock import FixedClock
from worker.fastpix import (
    ApiError,
    CallRecord,
    CallTimeout,
    Classification,
    ConnectionDropped,
    FastPixClient,
    RateLimited,
    ServerError,
    StreamStatus,
    classify,
    retry_after,
)


@pytest.fixture
def records() -> list[CallRecord]:
    return []


@pytest.fixture
def client(simulator: Simulator, records: list[CallRecord]) -> Iterator[FastPixClient]:
    simulator.reset()
    with FastPixClient(
        simulator.base_url,
        *simulator.credentials,
        connect_timeout=2.0,
        read_timeout=0.5,
        call_deadline=5.0,
        on_call=records.append,
    ) as client:
        yield client


@pytest.fixture
def stream_id(client: FastPixClient) -> str:
    sid = client.create_stream().stream_id
    client.disable_stream(sid)
    return sid


@pytest.mark.parametrize("status", ["500", "502", "503", "524"])
def test_server_errors_are_retryable_and_change_nothing(
    simulator: Simulator, client: FastPixClient, stream_id: str, status: str
) -> None:
    simulator.inject_fault("enable", status, count=1)
    with pytest.raises(ServerError) as caught:
        client.enable_stream(stream_id)
    assert caught.value.status == int(status)
    assert classify(caught.value) is Classification.RETRYABLE
    assert client.get_stream(stream_id).status == StreamStatus.DISABLED
    client.enable_stream(stream_id)  # the fault was for one call only
    assert client.get_stream(stream_id).status == StreamStatus.IDLE


def test_429_carries_retry_after(
    simulator: Simulator, client: FastPixClient, stream_id: str, records: list[CallRecord]
) -> None:
    simulator.inject_fault("enable", "429", count=1, retry_after=7)
    with pytest.raises(RateLimited) as caught:
        client.enable_stream(stream_id)
    assert retry_after(caught.value) == 7.0
    assert classify(caught.value) is Classification.RETRYABLE
    assert records[-1].status_code == 429 and records[-1].error is not None


def test_429_retry_after_as_an_http_date(simulator: Simulator, stream_id: str) -> None:
    clock = FixedClock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    simulator.inject_fault("enable", "429", count=1, retry_after="Fri, 27 Nov 2026 12:00:30 GMT")
    client = FastPixClient(simulator.base_url, *simulator.credentials, clock=clock)
    with client, pytest.raises(RateLimited) as caught:
        client.enable_stream(stream_id)
    assert retry_after(caught.value) == 30.0


def test_slow_answer_is_a_call_timeout(
    simulator: Simulator, client: FastPixClient, stream_id: str, records: list[CallRecord]
) -> None:
    simulator.inject_fault("get", "slow", count=1, delay=2.0)
    with pytest.raises(CallTimeout) as caught:
        client.get_stream(stream_id)
    assert classify(caught.value) is Classification.RETRYABLE
    assert "read timed out" in str(caught.value)
    assert records[-1].status_code is None


def test_dropped_connection_is_connection_dropped(
    simulator: Simulator, client: FastPixClient, stream_id: str
) -> None:
    simulator.inject_fault("disable", "drop", count=1)
    # The stream is disabled already; the drop happens before the API would refuse.
    with pytest.raises(ConnectionDropped) as caught:
        client.disable_stream(stream_id)
    assert classify(caught.value) is Classification.RETRYABLE


def test_the_call_deadline_caps_a_slow_answer(simulator: Simulator, stream_id: str) -> None:
    simulator.inject_fault("get", "slow", count=1, delay=3.0)
    client = FastPixClient(simulator.base_url, *simulator.credentials, read_timeout=30.0, call_deadline=0.3)
    with client, pytest.raises(CallTimeout) as caught:
        client.get_stream(stream_id)
    assert classify(caught.value) is Classification.RETRYABLE


def test_a_drop_after_the_work_was_done_then_reads_as_already_in_state(
    simulator: Simulator, client: FastPixClient, stream_id: str
) -> None:
    # The server enabled the stream and then lost the answer: the retry must not count as a failure.
    simulator.inject_fault("enable", "drop", count=1, apply_effect=True)
    with pytest.raises(ConnectionDropped):
        client.enable_stream(stream_id)
    assert client.get_stream(stream_id).status == StreamStatus.IDLE
    with pytest.raises(ApiError) as retried:
        client.enable_stream(stream_id)
    assert classify(retried.value) is Classification.ALREADY_IN_STATE


def test_nothing_is_retried_by_the_client(
    simulator: Simulator, client: FastPixClient, stream_id: str
) -> None:
    simulator.inject_fault("enable", "500", count=1)
    before = simulator.last_seq()
    with pytest.raises(ServerError):
        client.enable_stream(stream_id)
    enable_calls = simulator.calls(before, endpoint="enable")
    assert [(c.http_status, c.outcome) for c in enable_calls] == [(500, "fault:500")]

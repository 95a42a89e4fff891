"""Injected server faults reach the scheduler as the right exception and classification."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.simulator_fixture import Simulator
from worker.fastpix import (
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


@pytest.mark.parametrize("status", ["500", "524"])
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


def test_nothing_is_retried_by_the_client(
    simulator: Simulator, client: FastPixClient, stream_id: str
) -> None:
    simulator.inject_fault("enable", "500", count=1)
    before = len(simulator.calls())
    with pytest.raises(ServerError):
        client.enable_stream(stream_id)
    enable_calls = [c for c in simulator.calls()[before:] if c.get("endpoint") == "enable"]
    assert len(enable_calls) == 1

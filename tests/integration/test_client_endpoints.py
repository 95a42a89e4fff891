"""The client against the real simulator over HTTP: every endpoint and every documented refusal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.simulator_fixture import Simulator
from worker.fastpix import (
    ApiError,
    CallRecord,
    Classification,
    FastPixClient,
    StreamStatus,
    classify,
)

UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def records() -> list[CallRecord]:
    return []


@pytest.fixture
def client(simulator: Simulator, records: list[CallRecord]) -> Iterator[FastPixClient]:
    simulator.reset()
    with FastPixClient(
        simulator.base_url, *simulator.credentials, read_timeout=5.0, on_call=records.append
    ) as client:
        yield client


def test_create_get_update_and_delete(client: FastPixClient) -> None:
    created = client.create_stream(metadata={"name": "morning show"}, reconnect_window=120)
    assert created.status == StreamStatus.IDLE
    assert created.reconnect_window == 120
    assert created.metadata == {"name": "morning show"}
    assert created.stream_key is not None and created.stream_key.get_secret_value().endswith(
        created.stream_id
    )
    assert len(created.playback_ids) == 1

    fetched = client.get_stream(created.stream_id)
    assert fetched.stream_id == created.stream_id and fetched.created_at == created.created_at

    updated = client.update_stream(created.stream_id, metadata={"name": "evening"}, reconnect_window=300)
    assert updated.metadata == {"name": "evening"} and updated.reconnect_window == 300
    assert client.get_stream(created.stream_id).reconnect_window == 300

    assert client.viewer_count(created.stream_id) == 0

    client.delete_stream(created.stream_id)
    with pytest.raises(ApiError) as caught:
        client.get_stream(created.stream_id)
    assert caught.value.status == 404
    assert str(caught.value).startswith(
        f"FastPix 404 on GET /live/streams/{created.stream_id}: stream not found"
    )


def test_enable_disable_and_the_already_in_state_answers(client: FastPixClient) -> None:
    sid = client.create_stream().stream_id

    with pytest.raises(ApiError) as already_enabled:
        client.enable_stream(sid)
    assert already_enabled.value.status == 400
    assert classify(already_enabled.value) is Classification.ALREADY_IN_STATE

    client.disable_stream(sid)
    assert client.get_stream(sid).status == StreamStatus.DISABLED
    with pytest.raises(ApiError) as already_disabled:
        client.disable_stream(sid)
    assert classify(already_disabled.value) is Classification.ALREADY_IN_STATE

    client.enable_stream(sid)
    assert client.get_stream(sid).status == StreamStatus.IDLE


def test_finish_only_an_active_stream(simulator: Simulator, client: FastPixClient) -> None:
    sid = client.create_stream().stream_id
    with pytest.raises(ApiError) as refused:
        client.finish_stream(sid)
    assert refused.value.status == 400
    assert refused.value.message == "stream cannot be completed"
    assert classify(refused.value) is Classification.PERMANENT

    simulator.connect(sid)
    assert client.get_stream(sid).status == StreamStatus.ACTIVE
    client.finish_stream(sid)
    assert client.get_stream(sid).status == StreamStatus.IDLE


def test_updating_a_disabled_stream_is_refused(client: FastPixClient) -> None:
    sid = client.create_stream().stream_id
    client.disable_stream(sid)
    with pytest.raises(ApiError) as refused:
        client.update_stream(sid, reconnect_window=90)
    assert refused.value.status == 400 and classify(refused.value) is Classification.PERMANENT


def test_playback_ids(client: FastPixClient) -> None:
    sid = client.create_stream().stream_id
    created = client.create_playback_id(sid, access_policy="private")
    assert created.access_policy == "private"
    assert client.get_playback_id(sid, created.id) == created
    assert created.id in {p.id for p in client.get_stream(sid).playback_ids}

    client.delete_playback_id(sid, created.id)
    assert created.id not in {p.id for p in client.get_stream(sid).playback_ids}
    with pytest.raises(ApiError) as missing:
        client.get_playback_id(sid, created.id)
    assert missing.value.status == 404


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_stream(UNKNOWN_ID),
        lambda c: c.enable_stream(UNKNOWN_ID),
        lambda c: c.disable_stream(UNKNOWN_ID),
        lambda c: c.finish_stream(UNKNOWN_ID),
        lambda c: c.delete_stream(UNKNOWN_ID),
        lambda c: c.viewer_count(UNKNOWN_ID),
        lambda c: c.update_stream(UNKNOWN_ID, reconnect_window=60),
    ],
)
def test_unknown_stream_is_a_permanent_404(client: FastPixClient, call: object) -> None:
    with pytest.raises(ApiError) as caught:
        call(client)  # type: ignore[operator]
    assert caught.value.status == 404
    assert "stream not found" in str(caught.value)
    assert classify(caught.value) is Classification.PERMANENT


def test_wrong_credentials_are_a_permanent_401(simulator: Simulator) -> None:
    client = FastPixClient(simulator.base_url, simulator.access_token_id, "wrong-secret")
    with client, pytest.raises(ApiError) as caught:
        client.list_streams()
    assert caught.value.status == 401
    assert classify(caught.value) is Classification.PERMANENT
    assert "wrong-secret" not in str(caught.value)


def test_server_side_validation_is_a_422_with_fields(client: FastPixClient) -> None:
    # The public methods refuse this locally; send it raw, as a careless client would.
    sid = client.create_stream().stream_id
    with pytest.raises(ApiError) as caught:
        client._call("PATCH", f"/live/streams/{sid}", json_body={"reconnectWindow": 5})
    assert caught.value.status == 422
    assert [f.field for f in caught.value.fields] == ["reconnectWindow"]
    assert "reconnectWindow" in str(caught.value)
    assert classify(caught.value) is Classification.PERMANENT


def test_pagination_across_several_pages(client: FastPixClient) -> None:
    created = [client.create_stream(metadata={"n": str(n)}).stream_id for n in range(7)]
    page = client.list_streams(limit=3, offset=2, order_by="asc")
    assert [s.stream_id for s in page.items] == created[3:6]
    assert page.pagination is not None and page.pagination.total_records == 7

    newest_first = [s.stream_id for s in client.iter_streams(page_size=3)]
    assert newest_first == list(reversed(created))
    assert [s.stream_id for s in client.iter_streams(page_size=3, order_by="asc")] == created


def test_every_call_is_recorded(client: FastPixClient, records: list[CallRecord]) -> None:
    sid = client.create_stream().stream_id
    with pytest.raises(ApiError):
        client.finish_stream(sid)
    assert [(r.method, r.path, r.status_code, r.error is None) for r in records] == [
        ("POST", "/live/streams", 201, True),
        ("PUT", f"/live/streams/{sid}/finish", 400, False),
    ]
    assert all(r.latency_ms >= 0 for r in records)


def open_sockets() -> int:
    return sum(1 for fd in Path("/proc/self/fd").iterdir() if _is_socket(fd))


def _is_socket(fd: Path) -> bool:
    try:
        return os.readlink(fd).startswith("socket:")
    except OSError:
        return False


def test_threads_that_come_and_go_leave_no_connection_open(client: FastPixClient) -> None:
    """The viewer sampler runs each round's calls on a fresh pool of threads: the keep-alive
    connections of threads that ended are closed, not kept for the life of the process."""
    stream = client.create_stream().stream_id
    before = open_sockets()
    for _ in range(30):
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: client.viewer_count(stream), range(4)))

    assert open_sockets() - before <= 8  # this round's four, and their server ends

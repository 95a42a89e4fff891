"""The client over httpx.MockTransport: requests it sends, answers it parses, failures it maps."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from worker.clock import FixedClock
from worker.config import FastPixSettings, MissingSetting
from worker.fastpix import (
    ApiError,
    CallRecord,
    CallTimeout,
    ConnectionDropped,
    FastPixClient,
    InvalidRequest,
    NetworkError,
    RateLimited,
    UnexpectedResponse,
)

SID = "04f2ff997551bfeb99db3e099e8e85c8"
PID = "e3d28adb-df80-4a57-adf5-46522ffa3eff"
STREAM_KEY = f"e72eaef58b2c3d79a0c9e848797faeb7k{SID}"
SRT_SECRET = f"d2c92f912b717af780c030356246e4adk{SID}"
SRT_PLAYBACK_SECRET = f"261f28e903c7a3259fc1846f11bb304ek{SID}"
# Captured from the real API (get-live-stream-by-id), plus a field FastPix might add tomorrow.
REAL_STREAM: dict[str, Any] = {
    "streamId": SID,
    "streamKey": STREAM_KEY,
    "srtSecret": SRT_SECRET,
    "trial": False,
    "status": "idle",
    "maxResolution": "1080p",
    "maxDuration": 0,
    "createdAt": "2026-05-20T09:48:32.763926Z",
    "reconnectWindow": 60,
    "enableRecording": True,
    "enableDvrMode": True,
    "mediaPolicy": "public",
    "metadata": {"name": "fastpix_livestream"},
    "lowLatency": False,
    "closedCaptions": False,
    "playbackIds": [{"id": PID, "accessPolicy": "public"}],
    "simulcastResponses": [
        {
            "simulcastId": "c0da2202b40efcc3dd25718c40aba9c8",
            "url": "rtmp://hyd01.contribute.live-video.net/app/",
            "streamKey": "live_1012464221_DuM8W004MoZYNxQEZ0czODgfHCFBhk",
            "isEnabled": True,
        }
    ],
    "srtPlaybackResponse": {
        "srtPlaybackStreamId": f"play{SID}",
        "srtPlaybackSecret": SRT_PLAYBACK_SECRET,
    },
    "someFutureSecret": "do-not-show-me",
}
SECRETS = (STREAM_KEY, SRT_SECRET, SRT_PLAYBACK_SECRET, "live_1012464221", "do-not-show-me", "s3cr3t")

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, **kwargs: Any) -> FastPixClient:
    return FastPixClient(
        "https://api.example.test/v1", "token-id", "s3cr3t", transport=httpx.MockTransport(handler), **kwargs
    )


def ok(data: object = None, status: int = 200, **extra: object) -> httpx.Response:
    body: dict[str, object] = {"success": True, **extra}
    if data is not None:
        body["data"] = data
    return httpx.Response(status, json=body)


def test_get_stream_parses_a_real_answer_and_authenticates() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok(REAL_STREAM)

    with make_client(handler) as client:
        stream = client.get_stream(SID)
    request = seen[0]
    assert request.method == "GET"
    assert str(request.url) == f"https://api.example.test/v1/live/streams/{SID}"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"token-id:s3cr3t").decode()
    assert stream.stream_id == SID and stream.status == "idle" and stream.is_enabled
    assert stream.created_at == datetime(2026, 5, 20, 9, 48, 32, 763926, tzinfo=UTC)
    assert stream.metadata == {"name": "fastpix_livestream"}
    assert stream.playback_ids[0].id == PID
    assert stream.stream_key is not None and stream.stream_key.get_secret_value() == STREAM_KEY


def test_secrets_are_hidden_from_repr_str_and_json() -> None:
    with make_client(lambda request: ok(REAL_STREAM)) as client:
        stream = client.get_stream(SID)
        shown = [repr(stream), str(stream), stream.model_dump_json(), repr(client)]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text


def test_missing_optional_fields_are_accepted() -> None:
    with make_client(lambda request: ok({"streamId": SID, "status": "disabled"})) as client:
        stream = client.get_stream(SID)
    assert stream.metadata is None and stream.playback_ids == [] and not stream.is_enabled


def test_list_sends_documented_parameters_and_returns_pagination() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return ok([REAL_STREAM], pagination={"totalRecords": 1, "currentOffset": 2, "offsetCount": 1})

    with make_client(handler) as client:
        page = client.list_streams(limit=20, offset=2, order_by="asc")
    assert dict(seen[0].params) == {"limit": "20", "offset": "2", "orderBy": "asc"}
    assert [s.stream_id for s in page.items] == [SID]
    assert page.pagination is not None and page.pagination.total_records == 1


def test_create_sends_the_openapi_body() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return ok(REAL_STREAM, status=201)

    with make_client(handler) as client:
        client.create_stream(metadata={"name": "morning"}, reconnect_window=120, max_resolution="720p")
    assert bodies == [
        {
            "playbackSettings": {"accessPolicy": "public"},
            "inputMediaSettings": {
                "maxResolution": "720p",
                "reconnectWindow": 120,
                "mediaPolicy": "public",
                "metadata": {"name": "morning"},
            },
        }
    ]


@pytest.mark.parametrize(
    ("call", "method", "path"),
    [
        (lambda c: c.enable_stream(SID), "PUT", f"/v1/live/streams/{SID}/live-enable"),
        (lambda c: c.disable_stream(SID), "PUT", f"/v1/live/streams/{SID}/live-disable"),
        (lambda c: c.finish_stream(SID), "PUT", f"/v1/live/streams/{SID}/finish"),
        (lambda c: c.delete_stream(SID), "DELETE", f"/v1/live/streams/{SID}"),
        (lambda c: c.delete_playback_id(SID, PID), "DELETE", f"/v1/live/streams/{SID}/playback-ids"),
    ],
)
def test_actions_hit_the_documented_paths(
    call: Callable[[FastPixClient], None], method: str, path: str
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok()

    with make_client(handler) as client:
        call(client)
    assert (seen[0].method, seen[0].url.path) == (method, path)


def test_update_patches_only_what_is_given() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append((request.method, json.loads(request.content)))
        return ok(REAL_STREAM)

    with make_client(handler) as client:
        client.update_stream(SID, reconnect_window=300)
    assert bodies == [("PATCH", {"reconnectWindow": 300})]


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda c: c.update_stream(SID, reconnect_window=5), "reconnect window must be 60..1800"),
        (lambda c: c.update_stream(SID, metadata={f"k{i}": "v" for i in range(11)}), "at most 10 keys"),
        (lambda c: c.update_stream(SID, metadata={"k": "x" * 256}), "at most 255"),
        (lambda c: c.update_stream(SID), "nothing to update"),
        (lambda c: c.get_stream("not-an-id"), "invalid stream id"),
        (lambda c: c.get_stream(STREAM_KEY), "invalid stream id of 65 characters"),
        (lambda c: c.list_streams(limit=51), "limit"),
        (lambda c: c.create_stream(max_duration=30), "max duration"),
    ],
)
def test_bad_input_is_refused_before_any_call(call: Callable[[FastPixClient], object], reason: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    with make_client(handler) as client, pytest.raises(InvalidRequest, match=reason) as caught:
        call(client)
    assert STREAM_KEY not in str(caught.value)


def test_error_answers_raise_specific_exceptions_and_are_recorded() -> None:
    records: list[CallRecord] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = {"success": False, "error": {"code": 404, "message": "stream not found"}}
        return httpx.Response(404, json=body)

    with make_client(handler, on_call=records.append) as client, pytest.raises(ApiError) as caught:
        client.get_stream(SID)
    assert str(caught.value) == f"FastPix 404 on GET /live/streams/{SID}: stream not found"
    assert records == [
        CallRecord("GET", f"/live/streams/{SID}", 404, records[0].latency_ms, str(caught.value))
    ]


def test_429_retry_after_date_uses_the_injected_clock() -> None:
    clock = FixedClock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "Fri, 27 Nov 2026 12:00:42 GMT"})

    with make_client(handler, clock=clock) as client, pytest.raises(RateLimited) as caught:
        client.enable_stream(SID)
    assert caught.value.retry_after == 42.0


def test_success_records_status_and_no_error() -> None:
    records: list[CallRecord] = []
    with make_client(lambda request: ok({"views": 20}), on_call=records.append) as client:
        assert client.viewer_count(SID) == 20
    assert [(r.method, r.path, r.status_code, r.error) for r in records] == [
        ("GET", f"/live/streams/{SID}/viewer-count", 200, None)
    ]


def test_a_broken_on_call_does_not_fail_the_call(caplog: pytest.LogCaptureFixture) -> None:
    def explode(record: CallRecord) -> None:
        raise RuntimeError("metrics down")

    with make_client(lambda request: ok(), on_call=explode) as client:
        client.enable_stream(SID)
    assert "on_call callback failed" in caplog.text


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ReadTimeout("timed out"), CallTimeout),
        (httpx.ConnectTimeout("timed out"), CallTimeout),
        (httpx.ConnectError("connection refused"), NetworkError),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), ConnectionDropped),
        (httpx.ReadError("connection reset"), ConnectionDropped),
    ],
)
def test_transport_failures_map_to_transport_errors(raised: Exception, expected: type[Exception]) -> None:
    records: list[CallRecord] = []

    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    with make_client(handler, on_call=records.append) as client, pytest.raises(expected) as caught:
        client.disable_stream(SID)
    assert f"PUT /live/streams/{SID}/live-disable" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert records[0].status_code is None and records[0].error == str(caught.value)


class TrickleStream(httpx.SyncByteStream):
    """A body that arrives one byte at a time, each byte "taking" 1 s on the fake monotonic clock."""

    def __init__(self, clock: list[float], body: bytes) -> None:
        self.clock = clock
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        for index in range(len(self.body)):
            self.clock[0] += 1.0
            yield self.body[index : index + 1]


def test_deadline_stops_a_server_that_trickles_bytes() -> None:
    clock = [0.0]
    body = json.dumps({"success": True, "data": REAL_STREAM}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=TrickleStream(clock, body))

    client = make_client(handler, call_deadline=30.0, monotonic=lambda: clock[0])
    with client, pytest.raises(CallTimeout, match="30s call deadline"):
        client.get_stream(SID)
    assert clock[0] == 31.0  # gave up at the first byte past the deadline, not after the whole body


def test_garbled_success_body_is_an_unexpected_response_without_secrets() -> None:
    broken = {**REAL_STREAM, "status": None}
    with make_client(lambda request: ok(broken)) as client, pytest.raises(UnexpectedResponse) as caught:
        client.get_stream(SID)
    assert "status" in str(caught.value)
    assert STREAM_KEY not in str(caught.value)

    client = make_client(lambda request: httpx.Response(200, text="<html>"))
    with client, pytest.raises(UnexpectedResponse, match="success envelope"):
        client.enable_stream(SID)


def test_from_settings_needs_credentials() -> None:
    settings = FastPixSettings(api_url="http://127.0.0.1:9/v1", access_token_id=None, secret_key=None)
    with pytest.raises(MissingSetting, match="FASTPIX_ACCESS_TOKEN_ID"):
        FastPixClient.from_settings(settings)


def test_from_settings_uses_the_configured_base_url() -> None:
    settings = FastPixSettings(
        api_url="http://127.0.0.1:9/v1/",
        access_token_id="id",  # type: ignore[arg-type]
        secret_key="secret",  # type: ignore[arg-type]
    )
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return ok({"views": 1})

    with FastPixClient.from_settings(settings, transport=httpx.MockTransport(handler)) as client:
        client.viewer_count(SID)
    assert str(seen[0]) == f"http://127.0.0.1:9/v1/live/streams/{SID}/viewer-count"

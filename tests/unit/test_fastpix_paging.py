"""iter_streams returns every stream once, whatever the server thinks `offset` means."""

from __future__ import annotations

import httpx
import pytest

from worker.fastpix import FastPixClient

IDS = [f"{n:032x}" for n in range(1, 24)]  # 23 streams


def server(offset_means: str, seen: list[int]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        offset = int(request.url.params["offset"])
        seen.append(offset)
        if offset_means == "page":
            start = (offset - 1) * limit
        elif offset_means == "skip":
            start = offset
        else:  # ignored
            start = 0
        items = [{"streamId": sid, "status": "idle"} for sid in IDS[start : start + limit]]
        pagination = {"totalRecords": len(IDS), "currentOffset": offset, "offsetCount": -(-len(IDS) // limit)}
        return httpx.Response(200, json={"success": True, "data": items, "pagination": pagination})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("offset_means", ["page", "skip"])
@pytest.mark.parametrize("page_size", [2, 5, 23, 50])
def test_every_stream_exactly_once(offset_means: str, page_size: int) -> None:
    seen: list[int] = []
    with FastPixClient("http://x/v1", "id", "secret", transport=server(offset_means, seen)) as client:
        got = [stream.stream_id for stream in client.iter_streams(page_size=page_size)]
    assert sorted(got) == IDS
    assert len(got) == len(set(got))
    if offset_means == "page":
        assert got == IDS  # page numbers keep the server's order
        assert seen == list(range(1, len(IDS) // page_size + 2))


def test_a_server_that_ignores_offset_cannot_loop_forever() -> None:
    seen: list[int] = []
    with FastPixClient("http://x/v1", "id", "secret", transport=server("ignored", seen)) as client:
        got = [stream.stream_id for stream in client.iter_streams(page_size=5)]
    assert got == IDS[:5]
    assert seen == [1, 2]


def test_empty_account_is_one_call() -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        return httpx.Response(200, json={"success": True, "data": [], "pagination": {"totalRecords": 0}})

    with FastPixClient("http://x/v1", "id", "secret", transport=httpx.MockTransport(handler)) as client:
        assert list(client.iter_streams()) == []
    assert seen == [1]

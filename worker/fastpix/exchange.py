"""One HTTP exchange with FastPix under explicit time limits, transport failures mapped to ours.

httpx's read timeout bounds each read, not the whole answer: a server that trickles a byte every few
seconds would never trip it. So the call deadline is also checked after the headers and after every
body chunk, and each read is capped at the deadline too: a call ends at most one read past its deadline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from worker.fastpix.errors import CallTimeout, ConnectionDropped, NetworkError, UnexpectedResponse

MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    connect_timeout: float
    read_timeout: float
    call_deadline: float

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=min(self.connect_timeout, self.call_deadline),
            read=min(self.read_timeout, self.call_deadline),
            write=min(self.read_timeout, self.call_deadline),
            pool=min(self.connect_timeout, self.call_deadline),
        )


@dataclass(frozen=True)
class RawAnswer:
    status: int
    body: object  # parsed JSON, or None when the body is empty or not JSON
    retry_after: str | None


def exchange(
    http: httpx.Client,
    method: str,
    path: str,
    *,
    params: Mapping[str, str | int] | None,
    json_body: object,
    limits: Limits,
    started: float,
    monotonic: Callable[[], float],
) -> RawAnswer:
    deadline = started + limits.call_deadline

    def check_deadline() -> None:
        if monotonic() > deadline:
            raise CallTimeout(
                method, path, f"no complete answer within the {limits.call_deadline:g}s call deadline"
            )

    try:
        with http.stream(
            method, path.lstrip("/"), params=params, json=json_body, timeout=limits.httpx_timeout()
        ) as response:
            chunks: list[bytes] = []
            size = 0
            check_deadline()
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                check_deadline()
                if size > MAX_BODY_BYTES:
                    raise UnexpectedResponse(
                        method, path, response.status_code, f"body larger than {MAX_BODY_BYTES} bytes"
                    )
            return RawAnswer(
                response.status_code, _json_or_none(b"".join(chunks)), response.headers.get("retry-after")
            )
    except httpx.TimeoutException as exc:
        raise CallTimeout(method, path, _describe(exc, monotonic() - started)) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise ConnectionDropped(method, path, _describe(exc, monotonic() - started)) from exc
    except httpx.TransportError as exc:
        raise NetworkError(method, path, _describe(exc, monotonic() - started)) from exc


def _json_or_none(raw: bytes) -> object:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _describe(exc: httpx.TransportError, elapsed: float) -> str:
    kind = {
        httpx.ConnectTimeout: "connect timed out",
        httpx.ReadTimeout: "read timed out",
        httpx.WriteTimeout: "write timed out",
        httpx.PoolTimeout: "no free connection",
        httpx.RemoteProtocolError: "connection dropped",
        httpx.ReadError: "connection dropped while reading",
        httpx.WriteError: "connection dropped while sending",
        httpx.ConnectError: "could not connect",
    }.get(type(exc), type(exc).__name__)
    detail = str(exc).strip()
    return f"{kind} after {elapsed:.2f}s" + (f" ({detail})" if detail else "")

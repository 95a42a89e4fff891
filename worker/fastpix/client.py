"""A thin, synchronous FastPix live-stream client.

One HTTP exchange per method call, never a retry: retrying is the scheduler's decision, made against
its ledger and the action's deadline. Every call, good or bad, is reported to `on_call` as a CallRecord.
Timeouts and the per-call deadline are enforced in worker.fastpix.exchange.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from worker.clock import Clock, SystemClock
from worker.config import FastPixSettings
from worker.fastpix import validation
from worker.fastpix.errors import (
    FastPixError,
    InvalidRequest,
    RateLimited,
    UnexpectedResponse,
    error_for_status,
)
from worker.fastpix.exchange import Limits, exchange
from worker.fastpix.models import LiveStream, Page, Pagination, PlaybackId, ViewerCount
from worker.fastpix.paging import iter_all

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class CallRecord:
    """One call as the scheduler's history and metrics see it. `error` is the exception's message."""

    method: str
    path: str
    status_code: int | None
    latency_ms: float
    error: str | None
    started_at: datetime | None = None  # wall-clock start, stamped by whoever keeps the record


OnCall = Callable[[CallRecord], None]


class Limiter(Protocol):
    """The shared request budget (worker.service.budget.Limiter): asked before every call."""

    def acquire(self, method: str, path: str) -> None:
        """Return when the call may go; raise a FastPixError when it may not before its deadline."""

    def rate_limited(self, retry_after: float | None) -> None:
        """FastPix answered 429: slow every caller down."""


class FastPixClient:
    def __init__(
        self,
        base_url: str,
        access_token_id: str,
        secret_key: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        call_deadline: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        on_call: OnCall | None = None,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        limiter: Limiter | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidRequest(f"FastPix API URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._limits = Limits(connect_timeout, read_timeout, call_deadline)
        self._on_call = on_call
        self._clock: Clock = clock or SystemClock()
        self._monotonic = monotonic
        self._limiter = limiter
        self._options: dict[str, Any] = {
            "base_url": self.base_url + "/",
            "auth": httpx.BasicAuth(access_token_id, secret_key),
            "headers": {"accept": "application/json", "user-agent": "onair"},
            "follow_redirects": False,
            "trust_env": False,
            # Built once and shared: loading the CA bundle costs ~10 ms of CPU per client.
            "verify": httpx.create_ssl_context(),
        }
        # One HTTP client, and so one keep-alive connection, per thread: an action's state read and
        # its act go out on the same connection with no handshake between them, and the threads never
        # queue on a shared pool's lock. A given transport (tests) is shared by one client instead.
        self._shared = httpx.Client(**self._options, transport=transport) if transport is not None else None
        self._local = threading.local()
        # By the thread that uses it: a client whose thread has ended is closed when the next one is
        # made (threads come and go: a pool per viewer-sampling round), or its socket stays open.
        self._clients: dict[threading.Thread, httpx.Client] = {}
        self._clients_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: FastPixSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        on_call: OnCall | None = None,
        clock: Clock | None = None,
        limiter: Limiter | None = None,
    ) -> FastPixClient:
        """Raises worker.config.MissingSetting when the credentials are not configured."""
        settings = settings or FastPixSettings()
        token_id, secret = settings.credentials()
        return cls(
            settings.api_url,
            token_id,
            secret,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            call_deadline=settings.call_deadline,
            transport=transport,
            on_call=on_call,
            clock=clock,
            limiter=limiter,
        )

    def __repr__(self) -> str:
        return f"FastPixClient(base_url={self.base_url!r})"

    @property
    def _http(self) -> httpx.Client:
        if self._shared is not None:
            return self._shared
        client: httpx.Client | None = getattr(self._local, "http", None)
        if client is None:
            client = httpx.Client(**self._options)
            with self._clients_lock:
                ended = [thread for thread in self._clients if not thread.is_alive()]
                for thread in ended:
                    self._clients.pop(thread).close()
                self._clients[threading.current_thread()] = client
            self._local.http = client
        return client

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
        if self._shared is not None:
            self._shared.close()

    def __enter__(self) -> FastPixClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- streams -----------------------------------------------------------------------------------

    def list_streams(self, limit: int = 10, offset: int = 1, order_by: str = "desc") -> Page[LiveStream]:
        params: dict[str, str | int] = {
            "limit": validation.page_size(limit),
            "offset": validation.page_offset(offset),
            "orderBy": validation.one_of("order_by", order_by, validation.ORDERS),
        }
        path = "/live/streams"
        body = self._call("GET", path, params=params)
        raw_items = body.get("data")
        if not isinstance(raw_items, list):
            raise UnexpectedResponse("GET", path, 200, "list answer has no data array")
        items = [self._parse(LiveStream, item, "GET", path) for item in raw_items]
        raw_pagination = body.get("pagination")
        pagination = (
            self._parse(Pagination, raw_pagination, "GET", path) if isinstance(raw_pagination, dict) else None
        )
        return Page[LiveStream](items=items, pagination=pagination)

    def iter_streams(self, page_size: int = 50, order_by: str = "desc") -> Iterator[LiveStream]:
        """Every stream, once each, paging until a short, empty or repeated page."""
        validation.page_size(page_size)
        validation.one_of("order_by", order_by, validation.ORDERS)

        def fetch(offset: int, limit: int) -> tuple[list[LiveStream], int | None]:
            page = self.list_streams(limit=limit, offset=offset, order_by=order_by)
            return page.items, page.pagination.total_records if page.pagination else None

        return iter_all(fetch, page_size, key=lambda stream: stream.stream_id)

    def get_stream(self, stream_id: str) -> LiveStream:
        path = f"/live/streams/{validation.stream_id(stream_id)}"
        return self._parse(LiveStream, self._data("GET", path), "GET", path)

    def viewer_count(self, stream_id: str) -> int:
        path = f"/live/streams/{validation.stream_id(stream_id)}/viewer-count"
        return self._parse(ViewerCount, self._data("GET", path), "GET", path).views

    def create_stream(
        self,
        *,
        access_policy: str = "public",
        max_resolution: str = "1080p",
        reconnect_window: int = 60,
        media_policy: str = "public",
        metadata: Mapping[str, str] | None = None,
        enable_dvr_mode: bool | None = None,
        enable_recording: bool | None = None,
        max_duration: int | None = None,
    ) -> LiveStream:
        """POST /live/streams. Not idempotent: a retried create makes a second stream."""
        media: dict[str, Any] = {
            "maxResolution": validation.one_of("max_resolution", max_resolution, validation.RESOLUTIONS),
            "reconnectWindow": validation.reconnect_window(reconnect_window),
            "mediaPolicy": validation.one_of("media_policy", media_policy, validation.ACCESS_POLICIES),
        }
        if metadata is not None:
            media["metadata"] = validation.metadata(metadata)
        if enable_dvr_mode is not None:
            media["enableDvrMode"] = enable_dvr_mode
        if enable_recording is not None:
            media["enableRecording"] = enable_recording
        if max_duration is not None:
            media["maxDuration"] = validation.max_duration(max_duration)
        payload = {
            "playbackSettings": {
                "accessPolicy": validation.one_of("access_policy", access_policy, validation.ACCESS_POLICIES)
            },
            "inputMediaSettings": media,
        }
        path = "/live/streams"
        return self._parse(LiveStream, self._data("POST", path, json_body=payload), "POST", path)

    def update_stream(
        self,
        stream_id: str,
        *,
        metadata: Mapping[str, str] | None = None,
        reconnect_window: int | None = None,
    ) -> LiveStream:
        path = f"/live/streams/{validation.stream_id(stream_id)}"
        payload: dict[str, Any] = {}
        if metadata is not None:
            payload["metadata"] = validation.metadata(metadata)
        if reconnect_window is not None:
            payload["reconnectWindow"] = validation.reconnect_window(reconnect_window)
        if not payload:
            raise InvalidRequest("nothing to update: give metadata and/or a reconnect window")
        return self._parse(LiveStream, self._data("PATCH", path, json_body=payload), "PATCH", path)

    def enable_stream(self, stream_id: str) -> None:
        self._call("PUT", f"/live/streams/{validation.stream_id(stream_id)}/live-enable")

    def disable_stream(self, stream_id: str) -> None:
        self._call("PUT", f"/live/streams/{validation.stream_id(stream_id)}/live-disable")

    def finish_stream(self, stream_id: str) -> None:
        self._call("PUT", f"/live/streams/{validation.stream_id(stream_id)}/finish")

    def delete_stream(self, stream_id: str) -> None:
        self._call("DELETE", f"/live/streams/{validation.stream_id(stream_id)}")

    # -- playback ids ------------------------------------------------------------------------------

    def create_playback_id(self, stream_id: str, access_policy: str = "public") -> PlaybackId:
        path = f"/live/streams/{validation.stream_id(stream_id)}/playback-ids"
        payload = {
            "accessPolicy": validation.one_of("access_policy", access_policy, validation.ACCESS_POLICIES)
        }
        return self._parse(PlaybackId, self._data("POST", path, json_body=payload), "POST", path)

    def get_playback_id(self, stream_id: str, playback_id: str) -> PlaybackId:
        path = (
            f"/live/streams/{validation.stream_id(stream_id)}/playback-ids/"
            f"{validation.playback_id(playback_id)}"
        )
        return self._parse(PlaybackId, self._data("GET", path), "GET", path)

    def delete_playback_id(self, stream_id: str, playback_id: str) -> None:
        # The OpenAPI spec puts the playback id in the query string for DELETE, unlike GET.
        path = f"/live/streams/{validation.stream_id(stream_id)}/playback-ids"
        self._call("DELETE", path, params={"playbackId": validation.playback_id(playback_id)})

    # -- one exchange ------------------------------------------------------------------------------

    def _data(self, method: str, path: str, json_body: object = None) -> Any:
        body = self._call(method, path, json_body=json_body)
        if "data" not in body:
            raise UnexpectedResponse(method, path, 200, "answer has no data")
        return body["data"]

    def _parse(self, model: type[ModelT], raw: object, method: str, path: str) -> ModelT:
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            # Only locations and reasons: pydantic's own text quotes input values, which may be secrets.
            reasons = "; ".join(
                f"{'.'.join(str(part) for part in err['loc']) or model.__name__}: {err['msg']}"
                for err in exc.errors()[:5]
            )
            raise UnexpectedResponse(
                method, path, 200, f"{model.__name__} did not parse: {reasons}"
            ) from None

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: object = None,
    ) -> dict[str, Any]:
        http = self._http  # this thread's client, made (once) before a budget token is taken
        if self._limiter is not None:
            # Waiting for the budget is not part of the call: its deadline starts when it is sent.
            try:
                self._limiter.acquire(method, path)
            except FastPixError as exc:
                self._record(method, path, None, self._monotonic(), str(exc))
                raise
        started = self._monotonic()
        status: int | None = None
        try:
            answer = exchange(
                http,
                method,
                path,
                params=params,
                json_body=json_body,
                limits=self._limits,
                started=started,
                monotonic=self._monotonic,
            )
            status, body = answer.status, answer.body
            if status >= 400:
                raise error_for_status(method, path, status, body, answer.retry_after, self._clock.now())
            if not 200 <= status < 300:
                raise UnexpectedResponse(method, path, status, "neither a success nor an error status")
            if not isinstance(body, dict) or body.get("success") is False:
                raise UnexpectedResponse(method, path, status, "success status without a success envelope")
        except FastPixError as exc:
            if isinstance(exc, RateLimited) and self._limiter is not None:
                self._limiter.rate_limited(exc.retry_after)
            self._record(method, path, status, started, str(exc))
            raise
        self._record(method, path, status, started, None)
        return body

    def _record(self, method: str, path: str, status: int | None, started: float, error: str | None) -> None:
        if self._on_call is None:
            return
        record = CallRecord(
            method=method,
            path=path,
            status_code=status,
            latency_ms=round((self._monotonic() - started) * 1000.0, 3),
            error=error,
        )
        try:
            self._on_call(record)
        except Exception:
            # Bookkeeping must not turn a call that happened into one that "failed" and gets retried.
            log.exception("on_call callback failed for %s %s", method, path)

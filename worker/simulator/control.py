"""A small typed client for the simulator's /_sim control API, for tests and the demo.

control = SimulatorControl("http://127.0.0.1:8080/_sim")
control.reset()
control.inject_fault("enable", "503", count=2)
control.connect(stream_id)                      # idle -> preparing -> active
enables = control.calls(endpoint="enable", stream_id=stream_id)
control.webhooks()["deliveries"]               # every webhook delivery attempt
control.send_webhook("duplicate", stream_id=stream_id)
control.set_rate_limit(200)                     # 429 above 200 /v1 requests a second
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import httpx

FaultKind = Literal["500", "502", "503", "524", "429", "slow", "drop"]
WebhookKind = Literal["duplicate", "stale", "bad_signature"]


class ControlError(RuntimeError):
    """The control API refused a request; the message carries its explanation."""


@dataclass(frozen=True)
class CallRecord:
    """One /v1 call as the simulator logged it."""

    seq: int
    time: str
    method: str
    path: str
    endpoint: str
    stream_id: str | None
    http_status: int
    outcome: str
    status_before: str | None
    status_after: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRecord:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


class SimulatorControl:
    def __init__(self, control_url: str, timeout: float = 10.0) -> None:
        self._client = httpx.Client(base_url=control_url.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SimulatorControl:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._client.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise ControlError(f"{method} {path}: {response.status_code} {detail}")
        return response.json()

    def reset(self) -> None:
        """Forget every stream, fault and logged call."""
        self._request("POST", "/reset")

    def inject_fault(
        self,
        endpoint: str,
        kind: FaultKind,
        *,
        count: int | None = None,
        fraction: float | None = None,
        seed: int | None = None,
        retry_after: float | str | None = None,
        delay: float | None = None,
        apply_effect: bool = False,
        stream_id: str | None = None,
    ) -> dict[str, Any]:
        """Make matching calls fail; give `count` (the next N calls) or `fraction` (with `seed`)."""
        if count is None and fraction is None:
            count = 1
        spec: dict[str, Any] = {"endpoint": endpoint, "kind": kind, "apply_effect": apply_effect}
        for key, value in (
            ("count", count),
            ("fraction", fraction),
            ("seed", seed),
            ("retry_after", retry_after),
            ("delay", delay),
            ("stream_id", stream_id),
        ):
            if value is not None:
                spec[key] = value
        result: dict[str, Any] = self._request("POST", "/faults", json=spec)
        return result

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/faults")["faults"]
        return result

    def clear_faults(self) -> None:
        self._request("DELETE", "/faults")

    def calls(
        self,
        since: int = 0,
        *,
        stream_id: str | None = None,
        endpoint: str | None = None,
        limit: int | None = None,
    ) -> list[CallRecord]:
        """Logged /v1 calls with seq > since, oldest first, optionally filtered."""
        params: dict[str, str | int] = {"since": since}
        if stream_id is not None:
            params["stream_id"] = stream_id
        if endpoint is not None:
            params["endpoint"] = endpoint
        if limit is not None:
            params["limit"] = limit
        return [CallRecord.from_json(c) for c in self._request("GET", "/calls", params=params)["calls"]]

    def last_seq(self) -> int:
        seq: int = self._request("GET", "/calls", params={"since": 2**62})["last_seq"]
        return seq

    def stream(self, stream_id: str) -> dict[str, Any]:
        """The simulator's full internal view of one stream."""
        result: dict[str, Any] = self._request("GET", f"/streams/{stream_id}")
        return result

    def connect(self, stream_id: str, delay: float | None = None) -> dict[str, Any]:
        """An encoder connects: idle -> preparing, then active after `delay` (default: configured)."""
        body = {} if delay is None else {"delay": delay}
        result: dict[str, Any] = self._request("POST", f"/streams/{stream_id}/connect", json=body)
        return result

    def disconnect(self, stream_id: str, reconnect_window_override: float | None = None) -> dict[str, Any]:
        """The encoder drops: back to idle once the reconnect window (or the override, seconds) passes."""
        body = (
            {}
            if reconnect_window_override is None
            else {"reconnect_window_override": reconnect_window_override}
        )
        result: dict[str, Any] = self._request("POST", f"/streams/{stream_id}/disconnect", json=body)
        return result

    def set_viewers(self, stream_id: str, views: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", f"/streams/{stream_id}/viewers", json={"views": views})
        return result

    def configure(
        self, *, time_scale: float | None = None, connect_delay: float | None = None
    ) -> dict[str, Any]:
        body = {
            k: v for k, v in (("time_scale", time_scale), ("connect_delay", connect_delay)) if v is not None
        }
        result: dict[str, Any] = self._request("POST", "/config", json=body)
        return result

    def webhooks(self, since: int = 0, *, stream_id: str | None = None) -> dict[str, Any]:
        """`enabled`, `url`, `pending` (queued or retrying) and `deliveries`: attempts with seq > since."""
        params: dict[str, str | int] = {"since": since}
        if stream_id is not None:
            params["stream_id"] = stream_id
        result: dict[str, Any] = self._request("GET", "/webhooks", params=params)
        return result

    def send_webhook(
        self,
        kind: WebhookKind,
        *,
        stream_id: str | None = None,
        event_id: str | None = None,
        event: str | None = None,
        age: float | None = None,
    ) -> dict[str, Any]:
        """Send a duplicate, stale or wrongly signed event now; returns its delivery-log entry."""
        body: dict[str, Any] = {"kind": kind}
        for key, value in (("stream_id", stream_id), ("event_id", event_id), ("event", event), ("age", age)):
            if value is not None:
                body[key] = value
        result: dict[str, Any] = self._request("POST", "/webhooks/send", json=body)
        return result

    def configure_webhooks(self, url: str | None, secret: str | None = None) -> dict[str, Any]:
        """Send webhooks to `url`, signed with the Base64 `secret` (url None: stop sending)."""
        result: dict[str, Any] = self._request(
            "POST", "/webhooks/config", json={"url": url, "secret": secret}
        )
        return result

    def set_rate_limit(self, rps: int | None) -> dict[str, Any]:
        """Answer 429 to /v1 requests above `rps` a second (None: no limit)."""
        result: dict[str, Any] = self._request("POST", "/rate-limit", json={"rps": rps})
        return result

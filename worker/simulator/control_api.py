"""The /_sim control API: encoder, viewers, faults, the call log, webhooks, the rate limit, reset
and tunables.

Unauthenticated (it listens on loopback, for tests and demos) and never under /v1, so a FastPix
client pointed at the simulator cannot reach it by accident. Errors are `{"error": "..."}`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from worker.clock import Clock
from worker.simulator.faults import BadFault, parse_fault
from worker.simulator.model import DISABLED, Stream, iso_micro
from worker.simulator.ratelimit import SlidingWindow
from worker.simulator.state import SimState
from worker.simulator.webhook_events import Target, check_webhook_url, decode_secret
from worker.simulator.webhook_sender import NothingToSend, WebhookSender, WebhooksOff

SEND_KINDS = ("duplicate", "stale", "bad_signature")


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadFault(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadFault("the body must be a JSON object")
    return body


def _number(body: dict[str, Any], key: str, minimum: float = 0.0) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise BadFault(f"{key} must be a number >= {minimum:g}")
    return float(value)


def internal_view(stream: Stream, now: Any) -> dict[str, Any]:
    return {**stream.to_state(), "live_time_seconds": stream.live_time(now), "api": stream.to_api()}


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise BadFault(f"{key} must be a non-empty string")
    return value


def control_app(state: SimState, clock: Clock, limiter: SlidingWindow, webhooks: WebhookSender) -> Starlette:
    def settled(stream_id: str) -> Stream | None:
        stream = state.streams.get(stream_id)
        if stream is not None:
            state.settle(stream, clock.now())
        return stream

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def reset(request: Request) -> JSONResponse:
        state.reset()
        limiter.reset()
        webhooks.reset()
        return JSONResponse({"ok": True})

    async def add_fault(request: Request) -> JSONResponse:
        try:
            body = await _json_object(request)
            with state.lock:
                rule = parse_fault(body, state.next_rule_id)
                state.next_rule_id += 1
                state.faults.append(rule)
                state.mark_dirty()
                return JSONResponse(rule.to_state(), 201)
        except BadFault as exc:
            return _problem(422, str(exc))

    async def list_faults(request: Request) -> JSONResponse:
        with state.lock:
            return JSONResponse({"faults": [f.to_state() for f in state.faults]})

    async def clear_faults(request: Request) -> JSONResponse:
        with state.lock:
            state.faults.clear()
            state.mark_dirty()
        return JSONResponse({"ok": True})

    async def calls(request: Request) -> JSONResponse:
        params = request.query_params
        try:
            since = int(params.get("since", "0"))
            limit = int(params["limit"]) if "limit" in params else None
        except ValueError:
            return _problem(422, "since and limit must be integers")
        stream_id, endpoint = params.get("stream_id"), params.get("endpoint")
        with state.lock:
            found = [
                c
                for c in state.calls
                if c["seq"] > since
                and (stream_id is None or c["stream_id"] == stream_id)
                and (endpoint is None or c["endpoint"] == endpoint)
            ]
            last_seq = state.next_seq - 1
        if limit is not None:
            found = found[:limit]
        return JSONResponse({"calls": found, "last_seq": last_seq})

    async def all_streams(request: Request) -> JSONResponse:
        with state.lock:
            now = clock.now()
            for stream in list(state.streams.values()):
                state.settle(stream, now)
            views = [internal_view(s, now) for s in state.streams.values()]
        return JSONResponse({"streams": views})

    async def one_stream(request: Request) -> JSONResponse:
        with state.lock:
            stream = settled(request.path_params["stream_id"])
            if stream is None:
                return _problem(404, "no such stream")
            return JSONResponse(internal_view(stream, clock.now()))

    async def connect(request: Request) -> JSONResponse:
        try:
            body = await _json_object(request)
            delay = _number(body, "delay")
        except BadFault as exc:
            return _problem(422, str(exc))
        with state.lock:
            stream = settled(request.path_params["stream_id"])
            if stream is None:
                return _problem(404, "no such stream")
            if stream.status == DISABLED:
                return _problem(409, "the stream is disabled: an encoder cannot connect until it is enabled")
            now = clock.now()
            stream.connect(now, state.connect_delay if delay is None else delay)
            stream.settle(now)
            state.changed(stream)
            return JSONResponse(internal_view(stream, now))

    async def disconnect(request: Request) -> JSONResponse:
        try:
            body = await _json_object(request)
            override = _number(body, "reconnect_window_override")
        except BadFault as exc:
            return _problem(422, str(exc))
        with state.lock:
            stream = settled(request.path_params["stream_id"])
            if stream is None:
                return _problem(404, "no such stream")
            now = clock.now()
            window = stream.reconnect_window * state.time_scale if override is None else override
            stream.disconnect(now, window)
            stream.settle(now)
            state.changed(stream)
            return JSONResponse(internal_view(stream, now))

    async def set_viewers(request: Request) -> JSONResponse:
        try:
            body = await _json_object(request)
        except BadFault as exc:
            return _problem(422, str(exc))
        views = body.get("views")
        if isinstance(views, bool) or not isinstance(views, int) or views < 0:
            return _problem(422, "views must be a non-negative integer")
        with state.lock:
            stream = settled(request.path_params["stream_id"])
            if stream is None:
                return _problem(404, "no such stream")
            stream.views = views
            state.mark_dirty()
            return JSONResponse(internal_view(stream, clock.now()))

    async def config(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await _json_object(request)
                time_scale = _number(body, "time_scale")
                connect_delay = _number(body, "connect_delay")
            except BadFault as exc:
                return _problem(422, str(exc))
            with state.lock:
                if time_scale is not None:
                    state.time_scale = time_scale
                if connect_delay is not None:
                    state.connect_delay = connect_delay
                state.mark_dirty()
        with state.lock:
            return JSONResponse(
                {
                    "time_scale": state.time_scale,
                    "connect_delay": state.connect_delay,
                    "now": iso_micro(clock.now()),
                }
            )

    def webhook_settings() -> dict[str, Any]:
        target = webhooks.target
        return {"enabled": target is not None, "url": target.url if target is not None else None}

    async def webhook_log(request: Request) -> JSONResponse:
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            return _problem(422, "since must be an integer")
        deliveries = webhooks.log(since, request.query_params.get("stream_id"))
        return JSONResponse({**webhook_settings(), "pending": webhooks.pending, "deliveries": deliveries})

    async def webhook_config(request: Request) -> JSONResponse:
        try:
            body = await _json_object(request)
            url, secret = _text(body, "url"), _text(body, "secret")
            if url is not None and secret is None:
                raise BadFault("a webhook URL needs its secret (Base64)")
            target = None
            if url is not None and secret is not None:
                target = Target(check_webhook_url(url), decode_secret(secret))
        except (BadFault, ValueError) as exc:
            return _problem(422, str(exc))
        webhooks.configure(target)
        return JSONResponse(webhook_settings())

    async def webhook_send(request: Request) -> JSONResponse:
        try:
            body = await _json_object(request)
            kind = body.get("kind")
            if kind not in SEND_KINDS:
                raise BadFault(f"kind must be one of {', '.join(SEND_KINDS)}")
            stream_id, event_id = _text(body, "stream_id"), _text(body, "event_id")
            event = _text(body, "event")
            age = _number(body, "age")
            if kind != "duplicate" and stream_id is None:
                raise BadFault(f"a {kind} event needs stream_id")
        except BadFault as exc:
            return _problem(422, str(exc))
        try:
            if kind == "duplicate":
                sent = webhooks.duplicate(event_id, stream_id)
            elif kind == "stale":
                assert stream_id is not None
                sent = webhooks.stale(stream_id, event or "idle", 60.0 if age is None else age)
            else:
                assert stream_id is not None
                with state.lock:
                    stream = settled(stream_id)
                    data = stream.to_api() if stream is not None else webhooks.last_data(stream_id)
                    status = stream.status if stream is not None else None
                if data is None:
                    return _problem(404, f"no stream {stream_id} and no event sent for it")
                sent = webhooks.bad_signature(stream_id, event or status or "updated", data)
        except WebhooksOff as exc:
            return _problem(409, str(exc))
        except NothingToSend as exc:
            return _problem(404, str(exc))
        return JSONResponse(await asyncio.wrap_future(sent))

    async def rate_limit(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await _json_object(request)
            except BadFault as exc:
                return _problem(422, str(exc))
            rps = body.get("rps")
            if rps is not None and (isinstance(rps, bool) or not isinstance(rps, int) or rps < 1):
                return _problem(422, "rps must be an integer >= 1, or null for no limit")
            with state.lock:
                state.rate_limit = rps
                state.mark_dirty()
        with state.lock:
            return JSONResponse({"rps": state.rate_limit, "window_seconds": 1.0})

    routes = [
        Route("/_sim/health", health, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/faults", add_fault, methods=["POST"]),
        Route("/_sim/faults", list_faults, methods=["GET"]),
        Route("/_sim/faults", clear_faults, methods=["DELETE"]),
        Route("/_sim/calls", calls, methods=["GET"]),
        Route("/_sim/config", config, methods=["GET", "POST"]),
        Route("/_sim/webhooks", webhook_log, methods=["GET"]),
        Route("/_sim/webhooks/send", webhook_send, methods=["POST"]),
        Route("/_sim/webhooks/config", webhook_config, methods=["POST"]),
        Route("/_sim/rate-limit", rate_limit, methods=["GET", "POST"]),
        Route("/_sim/streams", all_streams, methods=["GET"]),
        Route("/_sim/streams/{stream_id}", one_stream, methods=["GET"]),
        Route("/_sim/streams/{stream_id}/connect", connect, methods=["POST"]),
        Route("/_sim/streams/{stream_id}/disconnect", disconnect, methods=["POST"]),
        Route("/_sim/streams/{stream_id}/viewers", set_viewers, methods=["POST"]),
    ]
    return Starlette(routes=routes)

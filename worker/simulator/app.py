"""Assembling the simulator: the ASGI app, and running it in a thread for tests and demos.

app = create_app(".onair/simulator.json", "token-id", "secret")       # an ASGI app for uvicorn
with run_in_thread(state_file=tmp / "sim.json") as sim:               # a live server on a free port
    httpx.get(f"{sim.base_url}/live/streams", auth=(sim.access_token_id, sim.secret_key))
    SimulatorControl(sim.control_url).connect(stream_id)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from worker.clock import Clock, SystemClock
from worker.simulator.api import LiveStreamApi, Receive, Scope, Send
from worker.simulator.control_api import control_app
from worker.simulator.state import SimState
from worker.simulator.webhook_events import Target, check_webhook_url, decode_secret
from worker.simulator.webhook_sender import WebhookSender

# How often due encoder transitions are applied while webhooks are on: events follow within this.
TICK_SECONDS = 0.1


class SimulatorApp:
    """Routes /v1 to the FastPix API and everything else to the /_sim control app.

    /v1 is dispatched here, not through starlette's middleware, so that a "drop" fault reaches
    the server's own `send` (and through it the connection) to close it without a response.
    """

    def __init__(
        self,
        state: SimState,
        clock: Clock,
        access_token_id: str,
        secret_key: str,
        webhooks: WebhookSender,
    ) -> None:
        self.state = state
        self.clock = clock
        self.webhooks = webhooks
        self._api = LiveStreamApi(state, clock, access_token_id, secret_key)
        self._control = control_app(state, clock, self._api.limiter, webhooks)
        state.on_changes = webhooks.submit
        self._ticker = _Ticker(state, clock, webhooks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/v1/"):
            await self._api(scope, receive, send)
        else:
            await self._control(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.state.start_flusher()
                self._ticker.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.stop_background)
                # Everything acknowledged to a client is written before the process exits.
                await asyncio.to_thread(self.state.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def stop_background(self) -> None:
        """Stop the due-transition ticker and webhook delivery (queued events are dropped)."""
        self._ticker.stop()
        self.webhooks.stop()


class _Ticker:
    """While webhooks are on, applies due encoder transitions every TICK_SECONDS, so their events
    go out when they happen rather than when a call next looks at the stream."""

    def __init__(self, state: SimState, clock: Clock, webhooks: WebhookSender) -> None:
        self._state = state
        self._clock = clock
        self._webhooks = webhooks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="simulator-ticker", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            if self._webhooks.enabled:
                self._state.settle_due(self._clock.now())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def create_app(
    state_file: str | Path | None,
    access_token_id: str,
    secret_key: str,
    clock: Clock | None = None,
    *,
    flush_interval: float = 0.05,
    calls_cap: int = 200_000,
    time_scale: float | None = None,
    connect_delay: float | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    rate_limit: int | None = None,
) -> SimulatorApp:
    """The simulator as an ASGI app. `state_file=None` keeps everything in memory only.

    With `webhook_url` and `webhook_secret` (Base64, as FastPix's dashboard shows it) every status
    change is POSTed there, signed. `rate_limit` answers 429 to /v1 requests above that many a second.
    """
    if not access_token_id or not secret_key:
        raise ValueError(
            "the simulator needs an access token id and a secret key to check Basic auth against"
        )
    if (webhook_url is None) != (webhook_secret is None):
        raise ValueError("webhooks need both a URL and a secret")
    if rate_limit is not None and rate_limit < 1:
        raise ValueError("the rate limit must be at least 1 request per second")
    clock = clock or SystemClock()
    target = None
    if webhook_url is not None and webhook_secret is not None:
        target = Target(check_webhook_url(webhook_url), decode_secret(webhook_secret))
    webhooks = WebhookSender(target, clock)
    state = SimState(Path(state_file) if state_file is not None else None, calls_cap, flush_interval)
    if time_scale is not None:
        state.time_scale = time_scale
    if connect_delay is not None:
        state.connect_delay = connect_delay
    if rate_limit is not None:
        state.rate_limit = state.default_rate_limit = rate_limit
    return SimulatorApp(state, clock, access_token_id, secret_key, webhooks)


class SimulatorHandle:
    """A simulator serving on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        app: SimulatorApp,
        server: uvicorn.Server,
        thread: threading.Thread,
        port: int,
        access_token_id: str,
        secret_key: str,
    ) -> None:
        self.app = app
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.control_url = f"http://127.0.0.1:{port}/_sim"
        self.access_token_id = access_token_id
        self.secret_key = secret_key
        self._server = server
        self._thread = thread

    @property
    def state(self) -> SimState:
        return self.app.state

    def stop(self) -> None:
        """Shut down gracefully: in-flight calls finish and the state is flushed to disk."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            raise RuntimeError("the simulator thread did not stop within 10 s")

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimulatorHandle(base_url={self.base_url!r})"


def run_in_thread(
    state_file: str | Path | None = None,
    access_token_id: str = "sim-access-token",  # noqa: S107
    secret_key: str = "sim-secret-key",  # noqa: S107 - a throwaway credential for local runs
    clock: Clock | None = None,
    *,
    flush_interval: float = 0.05,
    calls_cap: int = 200_000,
    time_scale: float | None = None,
    connect_delay: float | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    rate_limit: int | None = None,
) -> SimulatorHandle:
    """Start the simulator on a free loopback port; returns once it accepts connections."""
    app = create_app(
        state_file,
        access_token_id,
        secret_key,
        clock,
        flush_interval=flush_interval,
        calls_cap=calls_cap,
        time_scale=time_scale,
        connect_delay=connect_delay,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        rate_limit=rate_limit,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it every answer waits ~40 ms on delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"simulator-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                sock.close()
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    return SimulatorHandle(app, server, thread, port, access_token_id, secret_key)

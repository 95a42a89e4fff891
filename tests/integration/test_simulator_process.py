"""`onair simulator` as a real process: it keeps its streams and call log across SIGTERM and SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.integration.webhook_receiver import webhook_receiver
from worker.simulator.control import SimulatorControl

TOKEN, SECRET = "process-test-token", "process-test-secret"
CREATE_BODY = {"playbackSettings": {"accessPolicy": "public"}, "inputMediaSettings": {}}
FLUSH_INTERVAL = 0.05

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.processes


def child_env(**extra: str) -> dict[str, str]:
    """The environment minus any FastPix settings, with the checkout importable from any cwd."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTPIX_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def simulator_process(
    state_file: Path,
    port: int,
    flush_interval: float = FLUSH_INTERVAL,
    extra_args: tuple[str, ...] = (),
    **extra_env: str,
) -> Iterator[subprocess.Popen[bytes]]:
    onair = Path(sys.executable).with_name("onair")
    env = child_env(FASTPIX_ACCESS_TOKEN_ID=TOKEN, FASTPIX_SECRET_KEY=SECRET, **extra_env)
    process = subprocess.Popen(
        [
            str(onair),
            "simulator",
            "--port",
            str(port),
            "--state-file",
            str(state_file),
            "--flush-interval",
            str(flush_interval),
            *extra_args,
        ],
        env=env,
        cwd=state_file.parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        give_up = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                httpx.get(f"http://127.0.0.1:{port}/_sim/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < give_up, "onair simulator did not start"
                time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def create_stream(port: int) -> str:
    response = httpx.post(f"http://127.0.0.1:{port}/v1/live/streams", json=CREATE_BODY, auth=(TOKEN, SECRET))
    assert response.status_code == 201, response.text
    sid: str = response.json()["data"]["streamId"]
    return sid


def stream_status(port: int, sid: str) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/v1/live/streams/{sid}", auth=(TOKEN, SECRET)).status_code


def test_streams_and_calls_survive_sigterm_and_sigkill(tmp_path: Path) -> None:
    state_file, port = tmp_path / "nested" / "simulator.json", free_port()
    # A flush interval far longer than the test: only the flush on SIGTERM can save the stream.
    with simulator_process(state_file, port, flush_interval=600) as process:
        first = create_stream(port)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) in (0, -signal.SIGTERM)  # uvicorn re-raises after a clean shutdown
        output = process.stdout.read().decode() if process.stdout else ""
        assert TOKEN not in output and SECRET not in output

    with simulator_process(state_file, port) as process:
        assert stream_status(port, first) == 200
        second = create_stream(port)
        time.sleep(FLUSH_INTERVAL * 6)  # past the flush interval: a kill -9 now loses nothing
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    with simulator_process(state_file, port):
        assert stream_status(port, first) == 200
        assert stream_status(port, second) == 200
        with SimulatorControl(f"http://127.0.0.1:{port}/_sim") as control:
            endpoints = [c.endpoint for c in control.calls()]
    assert endpoints == ["create", "get", "create", "get", "get"]


@pytest.mark.parametrize(
    ("args", "credentials", "message"),
    [
        (("--state-file", "s.json"), False, "FASTPIX_ACCESS_TOKEN_ID is not set"),
        (("--webhook-url", "http://127.0.0.1:9/"), True, "--webhook-url needs --webhook-secret"),
        (
            ("--webhook-url", "http://127.0.0.1:9/", "--webhook-secret", "not base64 !!"),
            True,
            "the webhook secret is not valid Base64",
        ),
    ],
)
def test_bad_settings_are_a_clear_error(
    tmp_path: Path, args: tuple[str, ...], credentials: bool, message: str
) -> None:
    env = child_env(FASTPIX_ACCESS_TOKEN_ID=TOKEN, FASTPIX_SECRET_KEY=SECRET) if credentials else child_env()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("onair")), "simulator", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr and "not base64" not in result.stderr


def test_webhook_and_rate_limit_flags(tmp_path: Path) -> None:
    webhook_secret = "c2ltdWxhdG9yLXByb2Nlc3Mtd2ViaG9vay1rZXk="
    state_file, port = tmp_path / "sim" / "simulator.json", free_port()
    with (
        webhook_receiver() as receiver,
        simulator_process(
            state_file,
            port,
            extra_args=("--webhook-url", receiver.url, "--rate-limit", "3", "--connect-delay", "0"),
            FASTPIX_WEBHOOK_SECRET=webhook_secret,
        ) as process,
    ):
        receiver.fail_next = 1  # one refused delivery: its warning goes to the process log
        sid = create_stream(port)
        with SimulatorControl(f"http://127.0.0.1:{port}/_sim") as control:
            control.connect(sid)
        give_up = time.monotonic() + 15
        while [p["type"] for p in receiver.delivered()][-1:] != ["video.live_stream.active"]:
            assert time.monotonic() < give_up, [p["type"] for p in receiver.posts]
            time.sleep(0.05)
        codes = [stream_status(port, sid) for _ in range(6)]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        output = process.stdout.read().decode() if process.stdout else ""
    stream_key = receiver.delivered()[0]["data"]["streamKey"]
    assert receiver.delivered()[0]["attempts"] == 2 and "attempt 1: HTTP 500" in output
    assert 429 in codes and codes[0] == 200
    for secret in (webhook_secret, stream_key, TOKEN, SECRET):
        assert secret not in output

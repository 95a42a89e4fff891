"""A real FastPix simulator in a subprocess (`onair simulator`), shared by a test session.

Tests talk to it over real HTTP exactly as production talks to FastPix, and steer it through its
control API under /_sim (through worker.simulator.control.SimulatorControl). Call `reset()` at the
start of each test that cares about state.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from worker.simulator.control import SimulatorControl

ACCESS_TOKEN_ID = "onair-test-token"
SECRET_KEY = "onair-test-secret"
STARTUP_SECONDS = 20.0


class Simulator(SimulatorControl):
    """The running simulator: its URLs and credentials, plus the control client (reset, inject_fault,
    calls, connect, ...) from worker.simulator.control."""

    def __init__(
        self, root_url: str, access_token_id: str, secret_key: str, process: subprocess.Popen[bytes]
    ) -> None:
        self.base_url = f"{root_url}/v1"
        self.control_url = f"{root_url}/_sim"
        self.access_token_id = access_token_id
        self.secret_key = secret_key
        self.process = process
        super().__init__(self.control_url)

    def __repr__(self) -> str:
        return f"Simulator(base_url={self.base_url!r})"

    @property
    def credentials(self) -> tuple[str, str]:
        return self.access_token_id, self.secret_key

    @property
    def env(self) -> dict[str, str]:
        """Environment for an `onair` process that should talk to this simulator."""
        return {
            "FASTPIX_API_URL": self.base_url,
            "FASTPIX_ACCESS_TOKEN_ID": self.access_token_id,
            "FASTPIX_SECRET_KEY": self.secret_key,
        }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _onair_executable() -> str:
    candidate = Path(sys.executable).with_name("onair")
    return str(candidate) if candidate.exists() else "onair"


def _wait_until_answering(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    give_up = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < give_up:
        if process.poll() is not None:
            pytest.fail(f"onair simulator exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(
        f"onair simulator did not answer at {url} within {STARTUP_SECONDS}s:\n{log.read_text()[-4000:]}"
    )


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    workdir = tmp_path_factory.mktemp("simulator")
    port = _free_port()
    log = workdir / "simulator.log"
    env = {
        **os.environ,
        "FASTPIX_ACCESS_TOKEN_ID": ACCESS_TOKEN_ID,
        "FASTPIX_SECRET_KEY": SECRET_KEY,
    }
    command = [
        _onair_executable(),
        "simulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state-file",
        str(workdir / "state.json"),
        # An encoder "connect" makes the stream active at once: tests need no waiting.
        "--connect-delay",
        "0",
    ]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=workdir)
    root = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(process, f"{root}/_sim/calls", log)
        with Simulator(root, ACCESS_TOKEN_ID, SECRET_KEY, process) as simulator:
            yield simulator
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""A real FastPix simulator in a subprocess (`onair simulator`), shared by a test session.

Tests talk to it over real HTTP exactly as production talks to FastPix, and steer it through its
control API under /_sim. Call `reset()` at the start of each test that cares about state.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ACCESS_TOKEN_ID = "onair-test-token"
SECRET_KEY = "onair-test-secret"
STARTUP_SECONDS = 20.0


@dataclass
class Simulator:
    base_url: str
    control_url: str
    access_token_id: str
    secret_key: str
    process: subprocess.Popen[bytes]

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

    def _control(self, method: str, path: str, body: object = None) -> Any:
        response = httpx.request(method, f"{self.control_url}{path}", json=body, timeout=10.0)
        if response.status_code >= 400:
            raise AssertionError(f"simulator control {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def reset(self) -> None:
        self._control("POST", "/reset")

    def inject_fault(
        self,
        endpoint: str,
        kind: str,
        count: int = 1,
        *,
        retry_after: float | str | None = None,
        delay: float | None = None,
        stream_id: str | None = None,
        apply_effect: bool = False,
    ) -> None:
        """Make the next `count` calls to `endpoint` fail with `kind`; with `apply_effect` the server
        still does the work first (a lost answer rather than a refused call)."""
        spec: dict[str, Any] = {"endpoint": endpoint, "kind": kind, "count": count}
        if apply_effect:
            spec["apply_effect"] = True
        if retry_after is not None:
            spec["retry_after"] = retry_after
        if delay is not None:
            spec["delay"] = delay
        if stream_id is not None:
            spec["stream_id"] = stream_id
        self._control("POST", "/faults", spec)

    def calls(self) -> list[dict[str, Any]]:
        answer = self._control("GET", "/calls")
        calls = answer.get("calls", answer) if isinstance(answer, dict) else answer
        assert isinstance(calls, list)
        return calls

    def connect(self, stream_id: str, delay: float = 0.0) -> None:
        """Simulate an encoder pushing to the stream (idle -> preparing -> active after `delay`)."""
        self._control("POST", f"/streams/{stream_id}/connect", {"delay": delay})

    def disconnect(self, stream_id: str) -> None:
        self._control("POST", f"/streams/{stream_id}/disconnect", {})


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
    ]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=workdir)
    root = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(process, f"{root}/_sim/calls", log)
        yield Simulator(
            base_url=f"{root}/v1",
            control_url=f"{root}/_sim",
            access_token_id=ACCESS_TOKEN_ID,
            secret_key=SECRET_KEY,
            process=process,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""`onair demo` as a person meets it: early on it prints the ops board's address and a sign-in token,
and signing in there with that token shows the demo's stream on the board while the demo runs."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import onair_bin

pytestmark = pytest.mark.processes

BOARD = re.compile(r"the ops board, while the demo runs: (http://127\.0\.0\.1:\d+)/ops$")
TOKEN = re.compile(r"sign in at (http://127\.0\.0\.1:\d+)/login with the demo's ops token (\S+)$")


class Output:
    """The demo's printed lines, read as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        self.stdout = proc.stdout
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.stdout:
            self.lines.put(line.rstrip("\n"))

    def close(self) -> None:
        """After the demo exits: its last line read, the pipe closed."""
        self.reader.join(timeout=10)
        self.stdout.close()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            found = pattern.search(line)
            if found:
                return found
        raise AssertionError(
            f"the demo never printed {pattern.pattern!r}; it printed:\n" + "\n".join(self.seen)
        )


def test_the_demo_prints_the_board_and_a_token_that_signs_in_to_it(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [onair_bin(), "demo", "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # the demo and everything it starts, to stop together at the end
    )
    printed = Output(proc)
    try:
        board_url = printed.wait_for(BOARD, 60).group(1)
        login_url, token = printed.wait_for(TOKEN, 10).groups()
        assert login_url == board_url
        # Printed before the broadcast is scheduled a minute ahead: in time to watch it happen.
        printed.wait_for(re.compile(r"scheduled broadcast 'Demo show'"), 60)
        with httpx.Client(base_url=board_url, timeout=30) as browser:
            assert browser.post("/login", data={"token": token + "x"}).status_code == 401
            signed_in = browser.post("/login", data={"token": token})
            assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/ops")
            board = browser.get("/ops")
            assert board.status_code == 200
            assert "onair demo" in board.text  # the demo's stream, by its name, has a row
            assert "Demo show" in board.text  # and its broadcast a bar
    finally:
        proc.send_signal(signal.SIGINT)  # the demo stops its scheduler, simulator and api on the way out
        # A slow stop under load is not what this test is about; nothing it started may outlive it.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=90)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        printed.close()

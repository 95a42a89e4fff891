"""A setting that does not parse ends any `onair` command with one `error:` line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["doctor"],
            {"FASTPIX_MAX_RPS": "abc"},
            "error: bad setting: FASTPIX_MAX_RPS='abc': Input should be a valid number",
        ),
        (
            ["streams", "list"],
            {"FASTPIX_READ_TIMEOUT": "0"},
            "error: bad setting: FASTPIX_READ_TIMEOUT='0': Input should be greater than 0",
        ),
        (["plan"], {"ONAIR_TICK_SECONDS": "soon"}, "ONAIR_TICK_SECONDS"),
    ],
)
def test_a_bad_setting_is_one_error_line(
    args: list[str], env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    environment = {
        **os.environ,
        "ONAIR_DATABASE_URL": f"sqlite:///{tmp_path / 'onair.db'}",
        "FASTPIX_ACCESS_TOKEN_ID": "id",
        "FASTPIX_SECRET_KEY": "secret-never-shown",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli.main", *args],
        env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bad setting: ") and expected in lines[0], (
        done.stderr
    )
    assert "secret-never-shown" not in done.stderr + done.stdout

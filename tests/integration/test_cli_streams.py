"""`onair streams ...` against the real simulator: what an operator sees and what scripts get."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.integration.cli_support import assert_one_line_error
from tests.integration.simulator_fixture import Simulator
from worker.cli.main import app
from worker.fastpix import FastPixClient

UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


def onair(simulator: Simulator, *args: str, stdin: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(app, ["streams", *args], env={**simulator.env, **env}, input=stdin)


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def fresh(simulator: Simulator) -> None:
    simulator.reset()


def create(simulator: Simulator, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = ok_json(onair(simulator, "create", "--json", *args))
    return data


def test_create_and_get_never_print_secrets(simulator: Simulator) -> None:
    stream = create(simulator, "--metadata", "name=morning", "--reconnect-window", "120")
    assert stream["status"] == "idle" and stream["reconnectWindow"] == 120
    assert stream["metadata"] == {"name": "morning"}
    assert "streamKey" not in stream and "srtSecret" not in stream

    table = onair(simulator, "get", stream["streamId"])
    assert table.exit_code == 0, table.output
    assert stream["streamId"] in table.stdout and "idle" in table.stdout and "name=morning" in table.stdout
    with FastPixClient(simulator.base_url, *simulator.credentials) as client:
        key = client.get_stream(stream["streamId"]).stream_key
    assert key is not None
    assert key.get_secret_value() not in table.output

    assert ok_json(onair(simulator, "get", stream["streamId"], "--json"))["streamId"] == stream["streamId"]


def test_show_secrets_prints_them_only_when_asked(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    created = create(simulator, "--show-secrets")
    with FastPixClient(simulator.base_url, *simulator.credentials) as client:
        stream = client.get_stream(created["streamId"])
    assert stream.stream_key is not None and stream.srt_secret is not None
    key, srt = stream.stream_key.get_secret_value(), stream.srt_secret.get_secret_value()
    assert (created["streamKey"], created["srtSecret"]) == (key, srt)

    shown = ok_json(onair(simulator, "get", created["streamId"], "--json", "--show-secrets"))
    assert (shown["streamKey"], shown["srtSecret"]) == (key, srt)
    table = onair(simulator, "get", created["streamId"], "--show-secrets")
    assert table.exit_code == 0, table.output
    assert key in table.stdout and srt in table.stdout
    assert key not in caplog.text and srt not in caplog.text


def test_list_shows_every_page(simulator: Simulator) -> None:
    ids = [create(simulator, "--metadata", f"n={n}")["streamId"] for n in range(5)]
    listed = ok_json(onair(simulator, "list", "--limit", "2", "--json"))
    assert [s["streamId"] for s in listed] == list(reversed(ids))

    table = onair(simulator, "list", "--limit", "2", "--order", "asc")
    assert table.exit_code == 0, table.output
    assert "5 streams" in table.stdout
    assert all(sid in table.stdout for sid in ids)


def test_update_enable_disable_finish_viewers(simulator: Simulator) -> None:
    sid = create(simulator)["streamId"]

    updated = ok_json(
        onair(simulator, "update", sid, "-m", "a=1", "-m", "b=2", "--reconnect-window", "300", "--json")
    )
    assert updated["metadata"] == {"a": "1", "b": "2"} and updated["reconnectWindow"] == 300

    result = onair(simulator, "enable", sid)
    assert result.exit_code == 0 and "already enabled" in result.stdout

    result = onair(simulator, "disable", sid)
    assert result.exit_code == 0 and f"stream {sid} disabled" in result.stdout
    assert ok_json(onair(simulator, "get", sid, "--json"))["status"] == "disabled"

    result = onair(simulator, "enable", sid)
    assert result.exit_code == 0 and f"stream {sid} enabled" in result.stdout

    assert_one_line_error(onair(simulator, "finish", sid), "400", "stream cannot be completed")
    simulator.connect(sid)
    result = onair(simulator, "finish", sid)
    assert result.exit_code == 0 and "finished" in result.stdout

    assert ok_json(onair(simulator, "viewers", sid, "--json")) == {"streamId": sid, "views": 0}


def test_delete_asks_first(simulator: Simulator) -> None:
    sid = create(simulator)["streamId"]
    declined = onair(simulator, "delete", sid, stdin="n\n")
    assert declined.exit_code == 1
    assert ok_json(onair(simulator, "get", sid, "--json"))["streamId"] == sid

    result = onair(simulator, "delete", sid, "--yes")
    assert result.exit_code == 0 and "deleted" in result.stdout
    assert_one_line_error(onair(simulator, "get", sid), "FastPix 404", "stream not found")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("get", UNKNOWN_ID), ("FastPix 404", "stream not found")),
        (("enable", UNKNOWN_ID), ("FastPix 404", "stream not found")),
        (("delete", UNKNOWN_ID, "--yes"), ("FastPix 404", "stream not found")),
        (("get", "nope"), ("invalid stream id",)),
        (("update", UNKNOWN_ID, "--reconnect-window", "5"), ("reconnect window must be 60..1800",)),
        (("update", UNKNOWN_ID, *[f"--metadata=k{i}=v" for i in range(11)]), ("at most 10 keys",)),
        (("update", UNKNOWN_ID, "-m", "novalue"), ("key=value",)),
        (("create", "--reconnect-window", "5"), ("reconnect window must be 60..1800",)),
    ],
)
def test_bad_input_gives_one_clear_line(
    simulator: Simulator, args: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert_one_line_error(onair(simulator, *args), *expected)


def test_wrong_credentials(simulator: Simulator) -> None:
    line = assert_one_line_error(onair(simulator, "list", FASTPIX_SECRET_KEY="wrong-secret"), "FastPix 401")
    assert "wrong-secret" not in line


def test_missing_credentials(simulator: Simulator) -> None:
    assert_one_line_error(
        onair(simulator, "list", FASTPIX_ACCESS_TOKEN_ID=""), "FASTPIX_ACCESS_TOKEN_ID is not set"
    )


def test_unreachable_api(simulator: Simulator) -> None:
    assert_one_line_error(
        onair(simulator, "list", FASTPIX_API_URL="http://127.0.0.1:9/v1", FASTPIX_CONNECT_TIMEOUT="1"),
        "could not connect",
    )

"""Every simulator answer for every live-stream operation, success and error, checked two ways:
against the response schema the official OpenAPI spec gives for that path, method and status, and
against the shape of the real responses captured from FastPix (same keys in the same order, same
value types, the same fields left out when unset)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from worker.simulator.app import SimulatorHandle, run_in_thread
from worker.simulator.control import SimulatorControl

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "fastpix"
CAPTURES = REFERENCE / "fastpix-responses"
# Fields FastPix leaves out of a stream when they are unset; every other field is always there.
OMITTED_WHEN_UNSET = {"metadata", "simulcastResponses"}
CREATE_BODY = {
    "playbackSettings": {"accessPolicy": "public"},
    "inputMediaSettings": {"maxResolution": "1080p"},
}


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REFERENCE / "fastpix-openapi.yaml").read_text())
    return loaded


def capture(name: str) -> Any:
    return json.loads((CAPTURES / name).read_text())


def assert_matches_spec(method: str, template: str, response: httpx.Response) -> None:
    responses = spec()["paths"][template][method.lower()]["responses"]
    declared = responses.get(str(response.status_code), responses["default"])
    ref = declared["content"]["application/json"]["schema"]["$ref"]
    assert response.headers["content-type"].startswith("application/json")
    schema = {"$ref": ref, "components": spec()["components"]}
    OAS30Validator(schema, format_checker=oas30_format_checker).validate(response.json())


def assert_same_shape(actual: Any, captured: Any, where: str = "$") -> None:
    if isinstance(captured, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        expected_keys = [k for k in captured if k in actual or k not in OMITTED_WHEN_UNSET]
        assert list(actual) == expected_keys, f"{where}: keys {list(actual)} != {expected_keys}"
        for key in actual:
            if key == "metadata":  # free-form: the keys are the user's
                assert actual[key] and all(isinstance(v, str) for v in actual[key].values())
            else:
                assert_same_shape(actual[key], captured[key], f"{where}.{key}")
    elif isinstance(captured, list):
        assert isinstance(actual, list), f"{where}: expected a list"
        if captured:  # the captured item with every optional field shows the full order
            richest = max(captured, key=lambda item: len(item) if isinstance(item, dict) else 0)
            for index, item in enumerate(actual):
                assert_same_shape(item, richest, f"{where}[{index}]")
    else:
        assert type(actual) is type(captured), f"{where}: {actual!r} is not like {captured!r}"


def assert_stream_ids(stream: dict[str, Any]) -> None:
    sid = stream["streamId"]
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    for secret in (
        stream["streamKey"],
        stream["srtSecret"],
        stream["srtPlaybackResponse"]["srtPlaybackSecret"],
    ):
        assert re.fullmatch(rf"[0-9a-f]{{32}}k{sid}", secret)
    assert stream["srtPlaybackResponse"]["srtPlaybackStreamId"] == f"play{sid}"
    for playback in stream["playbackIds"]:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", playback["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stream["createdAt"])


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    with run_in_thread(tmp_path_factory.mktemp("sim") / "state.json", connect_delay=0.0) as handle:
        yield handle


@pytest.fixture
def api(sim: SimulatorHandle) -> Iterator[httpx.Client]:
    with SimulatorControl(sim.control_url) as control:
        control.reset()
    with httpx.Client(base_url=sim.base_url, auth=(sim.access_token_id, sim.secret_key)) as client:
        yield client


def test_stream_bodies_match_spec_and_captures(api: httpx.Client, sim: SimulatorHandle) -> None:
    created = api.post("/live/streams", json=CREATE_BODY)
    assert created.status_code == 201
    assert_matches_spec("POST", "/live/streams", created)
    stream = created.json()["data"]
    assert "metadata" not in stream and "simulcastResponses" not in stream
    assert_same_shape(created.json(), capture("create-new-stream.raw.json"))
    assert_stream_ids(stream)
    sid = stream["streamId"]

    with_metadata = api.post(
        "/live/streams",
        json={**CREATE_BODY, "inputMediaSettings": {"metadata": {"name": "sdk-validate"}}},
    )
    assert with_metadata.json()["data"]["metadata"] == {"name": "sdk-validate"}
    assert_same_shape(with_metadata.json(), capture("create-new-stream.raw.json"))

    fetched = api.get(f"/live/streams/{sid}")
    assert_matches_spec("GET", "/live/streams/{streamId}", fetched)
    assert_same_shape(fetched.json(), capture("get-live-stream-by-id.api.json"))

    listed = api.get("/live/streams")
    assert_matches_spec("GET", "/live/streams", listed)
    assert_same_shape(listed.json(), capture("get-all-streams.api.json"))

    views = api.get(f"/live/streams/{sid}/viewer-count")
    assert_matches_spec("GET", "/live/streams/{streamId}/viewer-count", views)
    assert_same_shape(views.json(), capture("get-live-stream-viewer-count-by-id.api.json"))

    playback = api.post(f"/live/streams/{sid}/playback-ids", json={"accessPolicy": "public"})
    assert playback.status_code == 201
    assert_matches_spec("POST", "/live/streams/{streamId}/playback-ids", playback)
    assert_same_shape(playback.json(), capture("create-playbackId-of-stream.raw.json"))
    pid = playback.json()["data"]["id"]

    updated = api.patch(
        f"/live/streams/{sid}", json={"metadata": {"updated": "true"}, "reconnectWindow": 120}
    )
    assert_matches_spec("PATCH", "/live/streams/{streamId}", updated)
    assert_same_shape(updated.json(), capture("update-live-stream.raw.json"))
    assert updated.json()["data"]["playbackIds"][0]["id"] == pid  # newest first, as captured

    got_playback = api.get(f"/live/streams/{sid}/playback-ids/{pid}")
    assert_matches_spec("GET", "/live/streams/{streamId}/playback-ids/{playbackId}", got_playback)
    assert_same_shape(got_playback.json(), capture("get-live-stream-playback-id.api.json"))

    deleted_playback = api.delete(f"/live/streams/{sid}/playback-ids", params={"playbackId": pid})
    assert_matches_spec("DELETE", "/live/streams/{streamId}/playback-ids", deleted_playback)
    assert deleted_playback.json() == capture("delete-playbackId-of-stream.raw.json")


def test_simulcast_bodies_match_spec_and_captures(api: httpx.Client) -> None:
    sid = api.post("/live/streams", json=CREATE_BODY).json()["data"]["streamId"]
    made = api.post(
        f"/live/streams/{sid}/simulcast", json={"url": "rtmp://example.com/live", "streamKey": "sk-1"}
    )
    assert made.status_code == 201
    assert_matches_spec("POST", "/live/streams/{streamId}/simulcast", made)
    assert_same_shape(made.json(), capture("create-simulcast-of-stream.raw.json"))
    scid = made.json()["data"]["simulcastId"]
    assert re.fullmatch(r"[0-9a-f]{32}", scid)

    template = "/live/streams/{streamId}/simulcast/{simulcastId}"
    api.put(f"/live/streams/{sid}/simulcast/{scid}", json={"metadata": {"livestream_name": "Summit"}})
    got = api.get(f"/live/streams/{sid}/simulcast/{scid}")
    assert_matches_spec("GET", template, got)
    assert_same_shape(got.json(), capture("get-specific-simulcast-of-stream.api.json"))
    stream = api.get(f"/live/streams/{sid}").json()
    assert_same_shape(stream, capture("get-live-stream-by-id.api.json"))
    assert "simulcastResponses" in stream["data"]

    updated = api.put(f"/live/streams/{sid}/simulcast/{scid}", json={"isEnabled": False, "metadata": {}})
    assert_matches_spec("PUT", template, updated)
    assert_same_shape(updated.json(), capture("update-specific-simulcast-of-stream.raw.json"))

    deleted = api.delete(f"/live/streams/{sid}/simulcast/{scid}")
    assert_matches_spec("DELETE", template, deleted)
    assert deleted.json() == capture("delete-simulcast-of-stream.raw.json")


def test_state_changes_answer_exactly_as_captured(api: httpx.Client, sim: SimulatorHandle) -> None:
    sid = api.post("/live/streams", json=CREATE_BODY).json()["data"]["streamId"]
    disabled = api.put(f"/live/streams/{sid}/live-disable")
    assert_matches_spec("PUT", "/live/streams/{streamId}/live-disable", disabled)
    assert disabled.json() == capture("disable-live-stream.raw.json")
    enabled = api.put(f"/live/streams/{sid}/live-enable")
    assert_matches_spec("PUT", "/live/streams/{streamId}/live-enable", enabled)
    assert enabled.json() == capture("enable-live-stream.raw.json")

    refused = api.put(f"/live/streams/{sid}/finish")
    assert refused.status_code == 400
    assert_matches_spec("PUT", "/live/streams/{streamId}/finish", refused)
    assert refused.json() == capture("complete-live-stream.raw.json")

    with SimulatorControl(sim.control_url) as control:
        control.connect(sid, delay=0)
    finished = api.put(f"/live/streams/{sid}/finish")
    assert_matches_spec("PUT", "/live/streams/{streamId}/finish", finished)
    assert finished.json() == {"success": True}

    deleted = api.delete(f"/live/streams/{sid}")
    assert_matches_spec("DELETE", "/live/streams/{streamId}", deleted)
    assert deleted.json() == capture("delete-live-stream.raw.json")


def error_cases(sid: str) -> list[tuple[str, str, str, dict[str, Any] | None, int]]:
    """(method, path, spec template, json body, expected status) for every refusal."""
    s = "/live/streams/{streamId}"
    return [
        ("PUT", f"/live/streams/{sid}/live-enable", s + "/live-enable", None, 400),
        ("PUT", f"/live/streams/{sid}/finish", s + "/finish", None, 400),
        ("PATCH", f"/live/streams/{sid}", s, {"reconnectWindow": 59}, 422),
        ("POST", "/live/streams", "/live/streams", {"playbackSettings": {}}, 422),
        ("GET", "/live/streams?limit=51", "/live/streams", None, 422),
        ("GET", "/live/streams/0123456789abcdef0123456789abcdef", s, None, 404),
        ("DELETE", "/live/streams/0123456789abcdef0123456789abcdef", s, None, 404),
        (
            "GET",
            "/live/streams/0123456789abcdef0123456789abcdef/viewer-count",
            s + "/viewer-count",
            None,
            404,
        ),
        ("GET", f"/live/streams/{sid}/playback-ids/nope", s + "/playback-ids/{playbackId}", None, 404),
        ("DELETE", f"/live/streams/{sid}/playback-ids?playbackId=nope", s + "/playback-ids", None, 404),
        ("GET", f"/live/streams/{sid}/simulcast/nope", s + "/simulcast/{simulcastId}", None, 404),
        ("POST", f"/live/streams/{sid}/simulcast", s + "/simulcast", {"url": "rtmp://x"}, 422),
    ]


def test_every_error_matches_spec_and_captured_error_shape(api: httpx.Client, sim: SimulatorHandle) -> None:
    sid = api.post("/live/streams", json=CREATE_BODY).json()["data"]["streamId"]
    captured_error = capture("complete-live-stream.raw.json")
    for method, path, template, body, status in error_cases(sid):
        response = api.request(method, path, json=body)
        assert response.status_code == status, (method, path, response.text)
        assert_matches_spec(method, template, response)
        error = response.json()["error"]
        assert response.json()["success"] is False and error["code"] == status
        if status == 422:
            assert error["message"] == "payload validation failed"
            assert error["fields"] and all(set(f) == {"field", "message"} for f in error["fields"])
        else:
            assert_same_shape(response.json(), captured_error)

    api.put(f"/live/streams/{sid}/live-disable")
    for method, path in (("PUT", f"/live/streams/{sid}/live-disable"), ("PATCH", f"/live/streams/{sid}")):
        response = api.request(method, path, json={"reconnectWindow": 90} if method == "PATCH" else None)
        assert response.status_code == 400
        assert_same_shape(response.json(), captured_error)

    unauthorised = httpx.get(f"{sim.base_url}/live/streams", auth=("wrong", "credentials"))
    assert unauthorised.status_code == 401
    assert_matches_spec("GET", "/live/streams", unauthorised)
    assert_same_shape(unauthorised.json(), captured_error)

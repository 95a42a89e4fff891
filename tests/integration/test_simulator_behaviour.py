"""The simulator over real HTTP: status machine, auth, pagination, encoder, faults, call log, restart.

Time-driven behaviour (preparing -> active, reconnect windows, maxDuration) runs on a FixedClock
that the tests move, so nothing here waits on wall-clock time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from worker.clock import FixedClock
from worker.simulator.app import SimulatorHandle, run_in_thread
from worker.simulator.control import ControlError, SimulatorControl

CREATE_BODY: dict[str, Any] = {"playbackSettings": {"accessPolicy": "public"}, "inputMediaSettings": {}}
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> Iterator[SimulatorHandle]:
    with run_in_thread(
        tmp_path_factory.mktemp("sim") / "state.json", clock=clock, connect_delay=1.0
    ) as handle:
        yield handle


@pytest.fixture
def control(sim: SimulatorHandle, clock: FixedClock) -> Iterator[SimulatorControl]:
    with SimulatorControl(sim.control_url) as ctl:
        ctl.reset()
        ctl.configure(time_scale=1.0, connect_delay=1.0)
        clock.set(START)
        yield ctl


@pytest.fixture
def api(sim: SimulatorHandle, control: SimulatorControl) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, auth=(sim.access_token_id, sim.secret_key), timeout=5) as client:
        yield client


def create(api: httpx.Client, **media: Any) -> str:
    response = api.post("/live/streams", json={**CREATE_BODY, "inputMediaSettings": media})
    assert response.status_code == 201, response.text
    sid: str = response.json()["data"]["streamId"]
    return sid


def status(api: httpx.Client, sid: str) -> str:
    value: str = api.get(f"/live/streams/{sid}").json()["data"]["status"]
    return value


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["success"] is False
    return response.status_code, body["error"]["message"], body["error"].get("description", "")


# --- status machine -------------------------------------------------------------------------


def test_enable_disable_finish_follow_fastpix_rules(api: httpx.Client, control: SimulatorControl) -> None:
    sid = create(api)
    assert error(api.put(f"/live/streams/{sid}/live-enable")) == (
        400,
        "stream is already enabled",
        "The requested stream is already in an enabled state.",
    )
    assert api.put(f"/live/streams/{sid}/live-disable").json() == {"success": True}
    assert status(api, sid) == "disabled"
    assert error(api.put(f"/live/streams/{sid}/live-disable"))[:2] == (400, "stream already disabled")
    assert error(api.put(f"/live/streams/{sid}/finish")) == (
        400,
        "stream cannot be completed",
        "Only active streams can be marked as completed.",
    )
    assert api.put(f"/live/streams/{sid}/live-enable").status_code == 200
    assert status(api, sid) == "idle"


def test_disable_ends_a_live_broadcast(
    api: httpx.Client, control: SimulatorControl, clock: FixedClock
) -> None:
    sid = create(api)
    control.connect(sid)
    clock.advance(1)
    control.set_viewers(sid, 40)
    assert status(api, sid) == "active"
    assert api.put(f"/live/streams/{sid}/live-disable").status_code == 200
    assert status(api, sid) == "disabled"
    assert api.get(f"/live/streams/{sid}/viewer-count").json()["data"] == {"views": 0}
    assert control.stream(sid)["encoder_connected"] is False


def test_finish_takes_an_active_stream_back_to_idle(
    api: httpx.Client, control: SimulatorControl, clock: FixedClock
) -> None:
    sid = create(api)
    control.connect(sid)
    assert error(api.put(f"/live/streams/{sid}/finish"))[0] == 400  # still preparing
    clock.advance(1)
    assert api.put(f"/live/streams/{sid}/finish").json() == {"success": True}
    assert status(api, sid) == "idle"


def test_delete_works_while_active_then_the_stream_is_gone(
    api: httpx.Client, control: SimulatorControl
) -> None:
    sid = create(api)
    control.connect(sid, delay=0)
    assert status(api, sid) == "active"
    assert api.delete(f"/live/streams/{sid}").json() == {"success": True}
    for method, path in (("GET", ""), ("DELETE", ""), ("PUT", "/live-enable"), ("GET", "/viewer-count")):
        assert error(api.request(method, f"/live/streams/{sid}{path}"))[:2] == (404, "stream not found")


def test_update_changes_metadata_and_window_but_not_on_a_disabled_stream(api: httpx.Client) -> None:
    sid = create(api, metadata={"name": "a"})
    updated = api.patch(f"/live/streams/{sid}", json={"metadata": {"name": "b"}, "reconnectWindow": 1800})
    assert updated.json()["data"]["metadata"] == {"name": "b"}
    assert updated.json()["data"]["reconnectWindow"] == 1800
    bad = api.patch(f"/live/streams/{sid}", json={"reconnectWindow": 1801, "metadata": {"k": "x" * 256}})
    assert bad.status_code == 422
    assert {f["field"] for f in bad.json()["error"]["fields"]} == {"reconnectWindow", "metadata.k"}
    api.put(f"/live/streams/{sid}/live-disable")
    assert error(api.patch(f"/live/streams/{sid}", json={"reconnectWindow": 90}))[:2] == (
        400,
        "stream cannot be updated",
    )


def test_enable_is_refused_once_max_duration_is_used_up(
    api: httpx.Client, control: SimulatorControl, clock: FixedClock
) -> None:
    sid = create(api, maxDuration=60)
    control.connect(sid, delay=0)
    clock.advance(59)
    assert status(api, sid) == "active"
    clock.advance(1)  # 60 s of live time: the broadcast ends and the stream is disabled
    assert status(api, sid) == "disabled"
    assert control.stream(sid)["live_time_seconds"] == 60
    assert error(api.put(f"/live/streams/{sid}/live-enable"))[:2] == (400, "stream duration exceeded")


def test_live_time_accumulates_across_broadcasts_before_refusing(
    api: httpx.Client, control: SimulatorControl, clock: FixedClock
) -> None:
    sid = create(api, maxDuration=120)
    control.connect(sid, delay=0)
    clock.advance(100)
    api.put(f"/live/streams/{sid}/live-disable")
    assert api.put(f"/live/streams/{sid}/live-enable").status_code == 200  # 100 of 120 s used
    control.connect(sid, delay=0)
    clock.advance(30)
    assert status(api, sid) == "disabled"
    assert error(api.put(f"/live/streams/{sid}/live-enable"))[0] == 400


# --- auth, validation, pagination ---------------------------------------------------------------


def test_basic_auth_is_required_and_checked(sim: SimulatorHandle, api: httpx.Client) -> None:
    for auth in (None, (sim.access_token_id, "wrong"), ("wrong", sim.secret_key)):
        response = httpx.get(f"{sim.base_url}/live/streams", auth=auth)
        assert error(response)[:2] == (401, "unauthorized")
    assert api.get("/live/streams").status_code == 200


def test_pagination_pages_by_page_number_in_both_orders(api: httpx.Client, clock: FixedClock) -> None:
    ids = []
    for _ in range(7):
        ids.append(create(api))
        clock.advance(1)
    pages = [api.get("/live/streams", params={"limit": 3, "offset": n}).json() for n in (1, 2, 3, 4)]
    assert [[s["streamId"] for s in p["data"]] for p in pages] == [ids[6:3:-1], ids[3:0:-1], ids[0:1], []]
    assert [p["pagination"] for p in pages[:2]] == [
        {"totalRecords": 7, "currentOffset": 1, "offsetCount": 3},
        {"totalRecords": 7, "currentOffset": 2, "offsetCount": 3},
    ]
    ascending = api.get("/live/streams", params={"limit": 50, "orderBy": "asc"}).json()
    assert [s["streamId"] for s in ascending["data"]] == ids
    assert len(api.get("/live/streams").json()["data"]) == 10 or len(ids) < 10
    assert [
        s["streamId"] for s in api.get("/live/streams", params={"offset": 0, "limit": 2}).json()["data"]
    ] == [ids[6], ids[5]]
    for params in ({"limit": 0}, {"limit": 51}, {"orderBy": "newest"}, {"offset": "x"}):
        assert api.get("/live/streams", params=params).status_code == 422, params


def test_create_validates_its_body(api: httpx.Client) -> None:
    response = api.post(
        "/live/streams", json={"inputMediaSettings": {"reconnectWindow": 30, "maxResolution": "4k"}}
    )
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["fields"]}
    assert fields == {
        "playbackSettings",
        "inputMediaSettings.reconnectWindow",
        "inputMediaSettings.maxResolution",
    }
    assert api.post("/live/streams", content=b"{not json").status_code == 422


# --- encoder --------------------------------------------------------------------------------------


def test_encoder_connect_prepares_then_goes_live(
    api: httpx.Client, control: SimulatorControl, clock: FixedClock
) -> None:
    sid = create(api)
    assert control.connect(sid)["status"] == "preparing"
    clock.advance(0.999)
    assert status(api, sid) == "preparing"
    clock.advance(0.001)
    assert status(api, sid) == "active"


def test_disconnect_returns_to_idle_after_the_reconnect_window(
    api: httpx.Client, control: SimulatorControl, clock: FixedClock
) -> None:
    sid = create(api, reconnectWindow=120)
    control.connect(sid, delay=0)
    control.disconnect(sid)
    clock.advance(119)
    assert status(api, sid) == "active"  # still inside the reconnect window
    clock.advance(1)
    assert status(api, sid) == "idle"

    control.connect(sid, delay=0)
    control.disconnect(sid, reconnect_window_override=2)
    clock.advance(2)
    assert status(api, sid) == "idle"

    control.configure(time_scale=0.01)
    control.connect(sid, delay=0)
    control.disconnect(sid)
    clock.advance(1.2)  # 120 s scaled by 0.01
    assert status(api, sid) == "idle"


def test_encoder_cannot_connect_to_a_disabled_stream(api: httpx.Client, control: SimulatorControl) -> None:
    sid = create(api)
    api.put(f"/live/streams/{sid}/live-disable")
    with pytest.raises(ControlError, match=r"409.*disabled"):
        control.connect(sid)
    with pytest.raises(ControlError, match="404"):
        control.connect("f" * 32)


def test_viewers_are_reported_by_viewer_count(api: httpx.Client, control: SimulatorControl) -> None:
    sid = create(api)
    control.connect(sid, delay=0)
    control.set_viewers(sid, 25)
    assert api.get(f"/live/streams/{sid}/viewer-count").json() == {"success": True, "data": {"views": 25}}


# --- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("500", "application/json"), ("502", "text/html"), ("503", "text/html"), ("524", "text/plain")],
)
def test_error_faults_answer_like_a_failing_server_without_the_effect(
    api: httpx.Client, control: SimulatorControl, kind: str, content_type: str
) -> None:
    sid = create(api)
    control.inject_fault("disable", kind, count=2)  # type: ignore[arg-type]
    for _ in range(2):
        response = api.put(f"/live/streams/{sid}/live-disable")
        assert response.status_code == int(kind)
        assert response.headers["content-type"].startswith(content_type)
    assert status(api, sid) == "idle"
    assert api.put(f"/live/streams/{sid}/live-disable").status_code == 200  # the fault is spent
    assert [c.outcome for c in control.calls(endpoint="disable")] == [f"fault:{kind}"] * 2 + ["ok"]


def test_a_fault_can_fail_after_doing_the_work(api: httpx.Client, control: SimulatorControl) -> None:
    sid = create(api)
    control.inject_fault("disable", "503", apply_effect=True)
    assert api.put(f"/live/streams/{sid}/live-disable").status_code == 503
    assert status(api, sid) == "disabled"
    logged = control.calls(endpoint="disable")[-1]
    assert (logged.status_before, logged.status_after, logged.http_status) == ("idle", "disabled", 503)


def test_429_carries_retry_after_in_seconds_or_as_a_date(
    api: httpx.Client, control: SimulatorControl
) -> None:
    sid = create(api)
    date = format_datetime(datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC), usegmt=True)
    control.inject_fault("enable", "429", retry_after=7)
    control.inject_fault("enable", "429", retry_after=date)
    control.inject_fault("enable", "429")
    seen = [api.put(f"/live/streams/{sid}/live-enable") for _ in range(3)]
    assert [r.status_code for r in seen] == [429, 429, 429]
    assert [r.headers.get("retry-after") for r in seen] == ["7", date, None]
    assert seen[0].json()["error"]["code"] == 429


def test_slow_answers_late_but_the_effect_happens(
    sim: SimulatorHandle, api: httpx.Client, control: SimulatorControl
) -> None:
    sid = create(api)
    control.inject_fault("disable", "slow", delay=1.0)
    impatient = httpx.Client(auth=(sim.access_token_id, sim.secret_key), timeout=0.2)
    with impatient, pytest.raises(httpx.ReadTimeout):
        impatient.put(f"{sim.base_url}/live/streams/{sid}/live-disable")
    assert status(api, sid) == "disabled"


def test_drop_closes_the_connection_without_a_response(api: httpx.Client, control: SimulatorControl) -> None:
    sid = create(api)
    control.inject_fault("enable", "drop")
    control.inject_fault("disable", "drop", apply_effect=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.put(f"/live/streams/{sid}/live-enable")
    with pytest.raises(httpx.RemoteProtocolError):
        api.put(f"/live/streams/{sid}/live-disable")
    assert status(api, sid) == "disabled"
    assert [(c.endpoint, c.outcome, c.http_status) for c in control.calls(stream_id=sid)][1:3] == [
        ("enable", "fault:drop", 0),
        ("disable", "fault:drop", 0),
    ]


def test_fraction_faults_are_reproducible_with_a_seed(api: httpx.Client, control: SimulatorControl) -> None:
    sid = create(api)
    outcomes = []
    for _ in range(2):
        control.clear_faults()
        control.inject_fault("get", "500", fraction=0.5, seed=42)
        outcomes.append([api.get(f"/live/streams/{sid}").status_code for _ in range(20)])
    assert outcomes[0] == outcomes[1]
    assert 0 < outcomes[0].count(500) < 20


def test_faults_match_endpoint_and_stream_and_can_be_cleared(
    api: httpx.Client, control: SimulatorControl
) -> None:
    one, other = create(api), create(api)
    control.inject_fault("*", "500", count=5, stream_id=one)
    assert api.get(f"/live/streams/{other}").status_code == 200
    assert api.put(f"/live/streams/{one}/live-disable").status_code == 500
    assert len(control.faults()) == 1
    control.clear_faults()
    assert api.get(f"/live/streams/{one}").status_code == 200
    for bad in ({"endpoint": "enable", "kind": "418"}, {"endpoint": "nope", "kind": "500"}):
        with pytest.raises(ControlError, match="422"):
            control.inject_fault(bad["endpoint"], bad["kind"])  # type: ignore[arg-type]
    with pytest.raises(ControlError, match="exactly one of count"):
        control.inject_fault("get", "500", count=1, fraction=0.5)


# --- call log, reset, restart ----------------------------------------------------------------------


def test_call_log_records_every_v1_call(
    api: httpx.Client, control: SimulatorControl, clock: FixedClock
) -> None:
    sid = create(api)
    clock.advance(2.5)
    api.put(f"/live/streams/{sid}/live-disable")
    api.put(f"/live/streams/{sid}/live-disable")
    api.get("/live/nothing-here")
    calls = control.calls()
    assert [c.seq for c in calls] == [1, 2, 3, 4]
    create_call, disable_ok, disable_again, unknown = calls
    assert (create_call.endpoint, create_call.stream_id, create_call.status_after) == ("create", sid, "idle")
    assert create_call.time == "2026-03-01T12:00:00.000000Z"
    assert disable_ok.time == "2026-03-01T12:00:02.500000Z"
    assert (disable_ok.method, disable_ok.path) == ("PUT", f"/v1/live/streams/{sid}/live-disable")
    assert (disable_ok.status_before, disable_ok.status_after, disable_ok.outcome) == (
        "idle",
        "disabled",
        "ok",
    )
    assert (disable_again.http_status, disable_again.outcome) == (400, "error")
    assert (unknown.endpoint, unknown.http_status) == ("unknown", 404)
    assert [c.seq for c in control.calls(since=2)] == [3, 4]
    assert [c.seq for c in control.calls(endpoint="disable", stream_id=sid)] == [2, 3]
    assert control.last_seq() == 4


def test_control_calls_are_not_logged_and_reset_clears_everything(
    api: httpx.Client, control: SimulatorControl
) -> None:
    sid = create(api)
    control.connect(sid)
    control.inject_fault("get", "500")
    control.reset()
    assert control.calls() == [] and control.faults() == []
    assert api.get("/live/streams").json()["pagination"]["totalRecords"] == 0
    assert [c.seq for c in control.calls()] == [1]


def test_state_calls_and_faults_survive_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "sim.json"
    with run_in_thread(state_file) as first:
        with httpx.Client(base_url=first.base_url, auth=(first.access_token_id, first.secret_key)) as api:
            sid = create(api, metadata={"name": "kept"})
            api.put(f"/live/streams/{sid}/live-disable")
        with SimulatorControl(first.control_url) as control:
            control.inject_fault("enable", "503", count=3)
    with run_in_thread(state_file) as second:
        with httpx.Client(base_url=second.base_url, auth=(second.access_token_id, second.secret_key)) as api:
            stream = api.get(f"/live/streams/{sid}").json()["data"]
            assert (stream["status"], stream["metadata"]) == ("disabled", {"name": "kept"})
            assert api.put(f"/live/streams/{sid}/live-enable").status_code == 503
        with SimulatorControl(second.control_url) as control:
            assert [c.endpoint for c in control.calls()] == ["create", "disable", "get", "enable"]
            assert control.faults()[0]["count"] == 2

"""The simulator's FastPix webhooks over real HTTP: signed envelopes for a stream's whole lifecycle,
retries with backoff, duplicate / stale / wrongly signed events on demand, and 429 above a rate.

Real time (the system clock): the events of lazily applied transitions (preparing -> active, the
reconnect window running out) must reach the receiver on their own, close to when they happen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.integration.webhook_receiver import Receiver, webhook_receiver
from worker.simulator.app import SimulatorHandle, run_in_thread
from worker.simulator.control import ControlError, SimulatorControl

SECRET_KEY = b"onair-simulator-webhook-test-key"
SECRET = base64.b64encode(SECRET_KEY).decode()
CREATE_BODY: dict[str, Any] = {"playbackSettings": {"accessPolicy": "public"}, "inputMediaSettings": {}}
CONNECT_DELAY = 0.3
TIME_SCALE = 0.01  # the default 60 s reconnect window lasts 0.6 s
# How late an event may reach the receiver after the moment it reports, on a loaded 2-core machine.
LATENESS = 2.0


def signed_correctly(post: dict[str, Any]) -> bool:
    expected = base64.b64encode(hmac.new(SECRET_KEY, post["_raw"].encode(), hashlib.sha256).digest()).decode()
    return post["_signature"] is not None and hmac.compare_digest(post["_signature"], expected)


def instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"not met within {timeout} s")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture
def sim(receiver: Receiver) -> Iterator[SimulatorHandle]:
    with run_in_thread(
        connect_delay=CONNECT_DELAY, time_scale=TIME_SCALE, webhook_url=receiver.url, webhook_secret=SECRET
    ) as handle:
        yield handle


@pytest.fixture
def api(sim: SimulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, auth=(sim.access_token_id, sim.secret_key), timeout=5) as client:
        yield client


@pytest.fixture
def control(sim: SimulatorHandle) -> Iterator[SimulatorControl]:
    with SimulatorControl(sim.control_url) as ctl:
        yield ctl


def create(api: httpx.Client) -> str:
    response = api.post("/live/streams", json=CREATE_BODY)
    assert response.status_code == 201, response.text
    sid: str = response.json()["data"]["streamId"]
    return sid


def logged(control: SimulatorControl, sid: str, count: int) -> list[dict[str, Any]]:
    """The stream's delivery log once it has `count` attempts (a receiver records a post before it
    answers, and the simulator logs the attempt when the answer comes)."""
    found: list[dict[str, Any]] = wait_for(
        lambda: (entries := control.webhooks(stream_id=sid)["deliveries"])[count - 1 :] and entries
    )
    return found


def types_for(receiver: Receiver, sid: str) -> list[str]:
    return [
        p["type"].removeprefix("video.live_stream.") for p in receiver.delivered() if p["object"]["id"] == sid
    ]


def event(receiver: Receiver, sid: str, name: str) -> dict[str, Any]:
    found = [p for p in receiver.delivered() if p["object"]["id"] == sid and p["type"].endswith(f".{name}")]
    assert len(found) == 1, types_for(receiver, sid)
    return found[0]


def test_a_full_lifecycle_sends_each_status_change_signed(
    receiver: Receiver, api: httpx.Client, control: SimulatorControl
) -> None:
    sid = create(api)
    wait_for(lambda: types_for(receiver, sid) == ["created"])
    created = event(receiver, sid, "created")
    got = api.get(f"/live/streams/{sid}").json()["data"]
    # The stream as GET returns it, secrets included, as FastPix sends it.
    assert created["data"] == got and created["data"]["streamKey"] == got["streamKey"]
    assert created["object"] == {"name": "live", "id": sid}
    assert set(created["environment"]) == {"name", "id"} and created["webhookId"]
    assert created["attempts"] == 1

    assert api.put(f"/live/streams/{sid}/live-disable").status_code == 200
    assert api.put(f"/live/streams/{sid}/live-enable").status_code == 200
    control.connect(sid)
    # active comes CONNECT_DELAY later, from the background timer: no call looks at the stream.
    wait_for(lambda: "active" in types_for(receiver, sid))
    active = event(receiver, sid, "active")
    assert active["data"]["status"] == "active"
    connected = event(receiver, sid, "connected")
    assert instant(active["created_at"]) - instant(connected["created_at"]) == pytest.approx(CONNECT_DELAY)
    assert active["_at"] - instant(active["created_at"]) < LATENESS

    control.disconnect(sid)
    wait_for(lambda: types_for(receiver, sid)[-1] == "idle")
    disconnected, idle = event(receiver, sid, "disconnected"), receiver.delivered()[-1]
    assert disconnected["data"]["status"] == "active"  # the broadcast waits out the reconnect window
    window = instant(idle["created_at"]) - instant(disconnected["created_at"])
    assert window == pytest.approx(60 * TIME_SCALE, abs=0.01)
    assert idle["data"]["status"] == "idle"
    assert idle["_at"] - instant(idle["created_at"]) < LATENESS

    patched = api.patch(f"/live/streams/{sid}", json={"metadata": {"show": "Evening"}}).json()["data"]
    assert api.put(f"/live/streams/{sid}/live-disable").status_code == 200
    assert api.delete(f"/live/streams/{sid}").status_code == 200
    wait_for(lambda: types_for(receiver, sid)[-1:] == ["deleted"])

    assert types_for(receiver, sid) == [
        "created",
        "disabled",
        "idle",
        "connected",
        "preparing",
        "recording",
        "active",
        "disconnected",
        "idle",
        "updated",
        "disabled",
        "deleted",
    ]
    assert event(receiver, sid, "updated")["data"] == patched
    assert event(receiver, sid, "deleted")["data"]["status"] == "disabled"
    posts = receiver.delivered()
    assert all(signed_correctly(p) for p in posts)
    assert len({p["id"] for p in posts}) == len(posts)
    stamps = [instant(p["created_at"]) for p in posts]
    assert stamps == sorted(stamps)  # in order for one stream
    log = wait_for(lambda: (found := control.webhooks(stream_id=sid))["pending"] == 0 and found)
    assert log["enabled"]
    assert [(d["type"], d["http_status"], d["attempt"]) for d in log["deliveries"]] == [
        (p["type"], 200, 1) for p in posts
    ]


def test_a_refused_delivery_is_retried_with_backoff_and_the_same_id(
    receiver: Receiver, api: httpx.Client, control: SimulatorControl
) -> None:
    receiver.fail_next = 2
    sid = create(api)
    wait_for(lambda: receiver.delivered(), timeout=15)
    with receiver.lock:
        attempts = list(receiver.posts)
    assert [p["_answered"] for p in attempts] == [500, 500, 200]
    assert [p["attempts"] for p in attempts] == [1, 2, 3]
    assert len({p["id"] for p in attempts}) == 1 and all(signed_correctly(p) for p in attempts)
    gaps = [later["_at"] - earlier["_at"] for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0  # exponential backoff
    deliveries = logged(control, sid, 3)
    assert [(d["attempt"], d["http_status"]) for d in deliveries] == [(1, 500), (2, 500), (3, 200)]


def test_a_receiver_that_is_down_is_retried_and_the_api_never_waits() -> None:
    with run_in_thread(webhook_url="http://127.0.0.1:9/nowhere", webhook_secret=SECRET) as sim:
        with httpx.Client(base_url=sim.base_url, auth=(sim.access_token_id, sim.secret_key)) as client:
            started = time.monotonic()
            sid = create(client)
            assert time.monotonic() - started < LATENESS
        with SimulatorControl(sim.control_url) as ctl:
            deliveries = logged(ctl, sid, 2)
    assert [(d["attempt"], d["http_status"], d["error"]) for d in deliveries[:2]] == [
        (1, 0, "ConnectError"),
        (2, 0, "ConnectError"),
    ]


def test_duplicate_stale_and_wrongly_signed_events_on_demand(
    receiver: Receiver, api: httpx.Client, control: SimulatorControl
) -> None:
    sid = create(api)
    control.connect(sid)
    wait_for(lambda: "active" in types_for(receiver, sid))
    active = event(receiver, sid, "active")

    duplicate = control.send_webhook("duplicate", stream_id=sid)
    assert duplicate["event_id"] == active["id"] and duplicate["http_status"] == 200
    again = receiver.posts[-1]
    assert again["_raw"] == active["_raw"] and again["_signature"] == active["_signature"]

    stale = control.send_webhook("stale", stream_id=sid, event="idle", age=30)
    old = receiver.posts[-1]
    assert stale["event_id"] == old["id"] != active["id"] and signed_correctly(old)
    assert old["type"] == "video.live_stream.idle" and old["data"]["status"] == "idle"
    assert instant(old["created_at"]) == pytest.approx(instant(active["created_at"]) - 30, abs=0.001)

    control.send_webhook("bad_signature", stream_id=sid)
    forged = receiver.posts[-1]
    assert forged["type"] == "video.live_stream.active" and forged["_signature"]
    assert not signed_correctly(forged)

    kinds = [d["kind"] for d in control.webhooks(stream_id=sid)["deliveries"]]
    assert kinds[-3:] == ["duplicate", "stale", "bad_signature"]
    with pytest.raises(ControlError, match="422 kind must be one of"):
        control._request("POST", "/webhooks/send", json={"kind": "replay"})
    with pytest.raises(ControlError, match="404 no event has been sent for stream nope"):
        control.send_webhook("stale", stream_id="nope")


def test_webhooks_can_be_turned_on_at_run_time_and_reset_turns_them_off(receiver: Receiver) -> None:
    with (
        run_in_thread() as sim,
        SimulatorControl(sim.control_url) as ctl,
        httpx.Client(base_url=sim.base_url, auth=(sim.access_token_id, sim.secret_key), timeout=5) as client,
    ):
        assert ctl.webhooks() == {"enabled": False, "url": None, "pending": 0, "deliveries": []}
        with pytest.raises(ControlError, match="409 webhooks are off"):
            ctl.send_webhook("duplicate")
        create(client)
        for url, secret, message in (
            (receiver.url, "not base64 !!", "not valid Base64"),
            (receiver.url, None, "needs its secret"),
            ("ftp://somewhere/x", SECRET, "http:// or https://"),
        ):
            with pytest.raises(ControlError, match=f"422 .*{message}") as refused:
                ctl.configure_webhooks(url, secret)
            assert "not base64" not in str(refused.value)
        assert ctl.configure_webhooks(receiver.url, SECRET) == {"enabled": True, "url": receiver.url}
        sid = create(client)
        wait_for(lambda: types_for(receiver, sid) == ["created"])
        assert len(receiver.posts) == 1 and signed_correctly(receiver.posts[0])  # only the later stream
        ctl.reset()
        assert ctl.webhooks()["enabled"] is False
        create(client)
        time.sleep(0.5)
        assert len(receiver.posts) == 1


def test_above_the_rate_limit_requests_get_429_with_retry_after() -> None:
    rps = 5
    with (
        run_in_thread() as sim,
        SimulatorControl(sim.control_url) as ctl,
        httpx.Client(base_url=sim.base_url, auth=(sim.access_token_id, sim.secret_key), timeout=5) as client,
    ):
        sid = create(client)
        assert ctl.set_rate_limit(rps) == {"rps": rps, "window_seconds": 1.0}
        time.sleep(1.1)  # the create falls out of the window
        started = time.monotonic()
        burst = [client.get(f"/live/streams/{sid}") for _ in range(4 * rps)]
        elapsed = time.monotonic() - started
        codes = [r.status_code for r in burst]
        assert codes[:rps] == [200] * rps
        refused = [r for r in burst if r.status_code == 429]
        assert refused and codes.count(200) <= rps * (elapsed + 1)
        assert all(r.headers["Retry-After"] == "1" for r in refused)
        assert refused[0].json() == {
            "success": False,
            "error": {
                "code": 429,
                "message": "too many requests",
                "description": "Rate limit exceeded. Retry after some time.",
            },
        }
        logged = [c for c in ctl.calls(stream_id=sid) if c.outcome == "rate_limited"]
        assert len(logged) == len(refused) and {c.http_status for c in logged} == {429}

        time.sleep(1.1)
        paced = []
        for _ in range(2 * rps):  # below the rate: one every 1.5/rps s
            paced.append(client.get(f"/live/streams/{sid}").status_code)
            time.sleep(1.5 / rps)
        assert paced == [200] * (2 * rps)

        ctl.set_rate_limit(None)
        assert {client.get(f"/live/streams/{sid}").status_code for _ in range(4 * rps)} == {200}


def test_the_rate_limit_is_a_setting_checked_on_entry() -> None:
    with run_in_thread(rate_limit=50) as sim, SimulatorControl(sim.control_url) as ctl:
        assert ctl._request("GET", "/rate-limit")["rps"] == 50
        for bad in (0, -1, 2.5, "many", True):
            with pytest.raises(ControlError, match="422 rps must be an integer >= 1"):
                ctl.set_rate_limit(bad)  # type: ignore[arg-type]
        ctl.set_rate_limit(7)
        ctl.reset()  # back to the setting it started with
        assert ctl._request("GET", "/rate-limit")["rps"] == 50


def test_bad_webhook_settings_are_refused_without_quoting_the_secret() -> None:
    with pytest.raises(ValueError, match="not valid Base64") as raised:
        run_in_thread(webhook_url="http://127.0.0.1:9/", webhook_secret="not base64 !!")
    assert "not base64" not in str(raised.value)
    with pytest.raises(ValueError, match="both a URL and a secret"):
        run_in_thread(webhook_url="http://127.0.0.1:9/")

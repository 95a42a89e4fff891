"""Ops act from their pages in a real browser, against the FastPix simulator over HTTP: an enable the
simulator refused shows on the board as failed and a retry from its page makes it succeed; a stream
paused from its page gets no call when its enable falls due, and a resume from the page sends it; a
broadcast is cancelled from the board after confirming, with JavaScript off. Each is recorded in the
history as done by the ops account. The scheduler's own steps run in the test: the planner's tick,
the dispatcher's tick and a worker's batch (service.planning, service.dispatcher, service.executor),
on slots a few seconds ahead."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import Watched
from tests.browser.web_support import STREAM, Web, sign_in
from tests.integration.simulator_fixture import Simulator
from tests.integration.store_support import simulator_runtime
from worker.config import OnairSettings
from worker.fastpix.client import FastPixClient
from worker.service import dispatcher, executor
from worker.service.planning import plan_tick
from worker.service.replanning import replan
from worker.service.runtime import Runtime
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent, Broadcast
from worker.store.schedules import upsert_stream
from worker.store.slots import insert_slot

OPS = "Night Desk"
ACTOR = f"ops:{OPS}"


@pytest.fixture
def rt(web: Web, simulator: Simulator) -> Iterator[Runtime]:
    yield from simulator_runtime(web.engine, simulator)


def _studio(web: Web, simulator: Simulator) -> str:
    """A disabled stream on the simulator, known to onair as "Studio"."""
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        stream = api.create_stream().stream_id
        api.disable_stream(stream)
    with transaction(web.engine) as session:
        upsert_stream(session, stream, name="Studio", status="disabled", seen_at=datetime.now(UTC))
    return stream


def _broadcast_soon(rt: Runtime, stream: str, seconds: float, title: str = "Morning show") -> int:
    """A broadcast starting in a few seconds (no lead), planned: its enable is in the ledger."""
    start = datetime.now(UTC) + timedelta(seconds=seconds)
    with transaction(rt.engine) as session:
        row = insert_slot(
            session,
            Broadcast(
                stream_id=stream,
                starts_at=start,
                ends_at=start + timedelta(minutes=30),
                lead_seconds=0,
                title=title,
            ),
        )
    plan_tick(rt, full=True, scheduler=False)
    return _enable_of(rt, row.id).id


def _enable_of(rt: Runtime, broadcast_id: int) -> Action:
    with transaction(rt.engine, immediate=False) as session:
        found = session.scalars(
            select(Action).where(
                Action.source == "broadcast", Action.source_id == broadcast_id, Action.kind == "enable"
            )
        ).one()
        session.expunge(found)
        return found


def _action(rt: Runtime, action_id: int) -> Action:
    with transaction(rt.engine, immediate=False) as session:
        found = session.get(Action, action_id)
        assert found is not None
        session.expunge(found)
        return found


def _run_when_due(rt: Runtime, action_id: int, timeout: float = 20.0) -> Action:
    """Tick the dispatcher (its claims go to a worker's batch at once) until the action has run."""

    def send(batch: object) -> None:
        executor.execute_batch(rt, [(c.action_id, c.lease_token) for c in batch])  # type: ignore[attr-defined]

    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        dispatcher.dispatch_tick(rt, send)
        action = _action(rt, action_id)
        if action.state not in ("pending", "claimed"):
            return action
        time.sleep(0.2)
    raise AssertionError(f"action {action_id} did not run within {timeout}s")


def _history(rt: Runtime, stream: str) -> list[tuple[str, str]]:
    """(actor, event) of the stream's history, oldest first."""
    with transaction(rt.engine, immediate=False) as session:
        rows = session.execute(
            select(ActionEvent.actor, ActionEvent.event)
            .where(ActionEvent.stream_id == stream)
            .order_by(ActionEvent.id)
        )
        return [(actor, event) for actor, event in rows]


def _csrf(page: Page) -> str:
    return page.locator("header input[name=csrf]").get_attribute("value") or ""


def test_a_failed_enable_shows_on_the_board_and_a_retry_from_its_page_succeeds(
    page: Page, web: Web, rt: Runtime, simulator: Simulator
) -> None:
    stream = _studio(web, simulator)
    simulator.inject_fault("enable", "400", count=1, stream_id=stream)
    action_id = _broadcast_soon(rt, stream, seconds=2)
    assert _run_when_due(rt, action_id).state == "failed"

    sign_in(page, web.tokens[OPS])
    failed = page.locator(f".board-row[data-stream='{stream}'] rect.dot.failed[data-action='{action_id}']")
    expect(failed.locator("title")).to_contain_text("400")
    page.locator(f"a:has(rect.dot.failed[data-action='{action_id}'])").click()
    expect(page.locator("dd.state")).to_have_text("failed")
    simulator.clear_faults()
    page.fill("input[name=note]", "fault cleared")
    page.get_by_role("button", name="Retry now").click()
    expect(page.get_by_role("status")).to_contain_text("Retry asked")
    assert _run_when_due(rt, action_id).state == "succeeded"

    page.reload()
    expect(page.locator("dd.state")).to_have_text("succeeded")
    expect(page.locator("table.events tr", has_text="retry_requested")).to_contain_text(ACTOR)
    assert simulator.stream(stream)["status"] == "idle"
    assert (ACTOR, "retry_requested") in [(a, e) for a, e in _history(rt, stream)]
    page.goto("/ops")
    expect(page.locator(f".board-row[data-stream='{stream}'] path.dots.succeeded")).to_have_count(1)

    # Nothing to retry any more: refused, in words, and nothing changes.
    again = page.request.post(f"/ops/actions/{action_id}/retry", form={"csrf": _csrf(page)})
    assert again.status == 409
    assert "cannot be retried" in again.text()
    assert _action(rt, action_id).state == "succeeded"


def test_a_pause_from_the_stream_page_skips_the_due_enable_and_a_resume_sends_it(
    page: Page, web: Web, rt: Runtime, simulator: Simulator
) -> None:
    stream = _studio(web, simulator)
    action_id = _broadcast_soon(rt, stream, seconds=4)
    sign_in(page, web.tokens[OPS])
    page.get_by_role("link", name="Studio").click()
    page.fill("input[name=note]", "encoder swap")
    page.get_by_role("button", name="Pause this stream").click()
    expect(page.get_by_role("status")).to_contain_text("Paused")
    expect(page.locator(".paused-now")).to_contain_text("encoder swap")

    page.goto("/ops")
    row = page.locator(f".board-row[data-stream='{stream}']")
    expect(row.locator(".paused-tag")).to_have_text("paused")
    expect(row.locator("rect.pause-bar title")).to_contain_text(f"paused by {ACTOR}")
    expect(row.locator("rect.pause-bar title")).to_contain_text("encoder swap")

    since = simulator.last_seq()
    skipped = _run_when_due(rt, action_id)
    assert (skipped.state, skipped.outcome) == ("skipped", "paused (encoder swap)")
    assert simulator.calls(since, stream_id=stream) == []

    page.get_by_role("link", name="Studio").click()
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_contain_text(f"Runs after all: action #{action_id}")
    assert _run_when_due(rt, action_id).state == "succeeded"
    assert len(simulator.calls(since, stream_id=stream, endpoint="enable")) == 1
    assert [e for e in _history(rt, stream) if e[1] in ("stream_paused", "stream_resumed")] == [
        (ACTOR, "stream_paused"),
        (ACTOR, "stream_resumed"),
    ]
    page.goto("/ops")
    expect(page.locator(f".board-row[data-stream='{stream}'] .paused-tag")).to_have_count(0)


def test_a_broadcast_is_cancelled_from_the_board_after_confirming_without_javascript(
    no_script: Watched, web: Web
) -> None:
    page = no_script.page()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    broadcast_id = web.ops_broadcast(start, start + timedelta(hours=1), "Late show")
    replan(OnairSettings(database_url=str(web.engine.url), horizon_hours=24), web.engine)
    sign_in(page, web.tokens[OPS])
    bar = page.locator(f"rect.slot-bar.broadcast[data-slot='{broadcast_id}']")
    expect(bar.locator("title")).to_contain_text("Late show")
    bar.click()
    expect(page.locator("h1")).to_have_text(f"Cancel broadcast #{broadcast_id} “Late show”?")
    page.get_by_role("link", name="No, keep it").click()
    expect(page.locator("h1")).to_have_text("Main stage")
    expect(page.locator(f"tr#slot-{broadcast_id}")).to_contain_text("Late show")
    page.locator(f"tr#slot-{broadcast_id}").get_by_role("link", name="Cancel…").click()
    page.get_by_role("button", name="Yes, cancel it").click()
    expect(page).to_have_url(f"{web.base_url}/ops?cancelled={broadcast_id}&actions=2&running=0")
    expect(page.get_by_role("status")).to_contain_text(f"Broadcast #{broadcast_id} cancelled")
    expect(page.locator(f"rect.slot-bar[data-slot='{broadcast_id}']")).to_have_count(0)
    assert web.booking_row(broadcast_id).cancelled_at is not None
    with transaction(web.engine, immediate=False) as session:
        said = session.execute(
            select(ActionEvent.actor, ActionEvent.detail).where(ActionEvent.event == "broadcast_cancelled")
        ).all()
    assert [tuple(r) for r in said] == [(ACTOR, f"broadcast #{broadcast_id} cancelled (by {ACTOR})")]
    again = page.goto(f"/ops/broadcasts/{broadcast_id}/cancel")
    assert again is not None and again.status == 200
    expect(page.get_by_role("alert")).to_contain_text("was cancelled at")


def test_ops_posts_refuse_organisers_forged_forms_and_bad_input_and_change_nothing(
    page: Page, web: Web
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    broadcast_id = web.ops_broadcast(start, start + timedelta(hours=1), "Late show")
    yesterday = start - timedelta(days=1)
    ended_id = web.ops_broadcast(yesterday, yesterday + timedelta(hours=1), "Yesterday's show")
    posts = [
        (f"/ops/streams/{STREAM}/pause", {"note": "x"}),
        (f"/ops/streams/{STREAM}/resume", {}),
        ("/ops/actions/1/retry", {}),
        (f"/ops/broadcasts/{broadcast_id}/cancel", {}),
    ]
    sign_in(page, web.tokens["Jazz Club"])
    for url, form in posts:
        answer = page.request.post(url, form={**form, "csrf": _csrf(page)})
        assert answer.status == 403, url
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, web.tokens[OPS])
    for url, form in posts:
        answer = page.request.post(url, form=form)  # no CSRF token: a forged form
        assert answer.status == 403, url
        assert "did not come from your signed-in page" in answer.text()
    csrf = _csrf(page)
    bad = [
        (f"/ops/streams/{STREAM}/pause", {"until": "tomorrow"}, 422, "is not a date and time"),
        (f"/ops/streams/{STREAM}/pause", {"until": "2020-01-01T10:00"}, 422, "is not in the future"),
        ("/ops/streams/nosuchstream/pause", {}, 404, "unknown stream"),
        (f"/ops/streams/{STREAM}/resume", {}, 409, "is not paused"),
        ("/ops/actions/999999/retry", {}, 404, "no action with id 999999"),
        ("/ops/broadcasts/999999/cancel", {}, 404, "no broadcast with id 999999"),
        (f"/ops/broadcasts/{ended_id}/cancel", {}, 409, "there is nothing left to cancel"),
    ]
    for url, form, status, said in bad:
        answer = page.request.post(url, form={**form, "csrf": csrf})
        assert (answer.status, said in answer.text()) == (status, True), (url, form, answer.text()[:2000])
    assert web.booking_row(broadcast_id).cancelled_at is None
    assert web.booking_row(ended_id).cancelled_at is None
    page.goto(f"/ops/streams/{STREAM}")
    expect(page.locator(".paused-now")).to_have_count(0)
    page.fill("input[name=until]", "2020-01-01T10:00")
    page.get_by_role("button", name="Pause this stream").click()
    expect(page.get_by_role("alert")).to_contain_text("is not in the future")
    response = page.goto("/ops/streams/nosuchstream")
    assert response is not None and response.status == 404

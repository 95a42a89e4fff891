"""The ops pages in a real browser: health, and the night's report with a failed action and its
cause; titles are escaped there too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Dialog, Page, expect

from tests.browser.web_support import STREAM, Web, sign_in
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent, Broadcast

TITLE = "<script>alert(1)</script> late show"


def _failed_night(web: Web) -> int:
    """A broadcast two hours ago whose enable failed with FastPix's 500."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    with transaction(web.engine) as session:
        row = Broadcast(
            stream_id=STREAM, starts_at=start, ends_at=start + timedelta(hours=1), lead_seconds=0, title=TITLE
        )
        session.add(row)
        session.flush()
        action = Action(
            idempotency_key=f"broadcast:{row.id}:enable",
            stream_id=STREAM,
            kind="enable",
            source="broadcast",
            source_id=row.id,
            due_at=start,
            deadline_at=start + timedelta(minutes=5),
            next_attempt_at=start,
            state="failed",
            attempts=3,
            reason="slot start",
            last_error='FastPix 500 "internal error" on PUT',
            finished_at=start + timedelta(seconds=30),
        )
        session.add(action)
        session.flush()
        return action.id


def test_the_report_page_shows_the_night_with_the_failed_action_and_its_cause(page: Page, web: Web) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    action_id = _failed_night(web)
    sign_in(page, web.tokens["Night Desk"])
    expect(page.locator("li.check").first).to_be_visible()
    page.get_by_role("link", name="The night: report").click()
    expect(page.locator("h1")).to_contain_text("Report:")
    failure = page.locator(f"tr#action-{action_id}")
    expect(failure).to_contain_text("enable")
    expect(failure.locator(".state")).to_have_text("failed")
    expect(failure).to_contain_text("FastPix 500")
    expect(page.locator("table.broadcasts")).to_contain_text(TITLE)
    page.select_option("select[name=since]", "6h")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{web.base_url}/ops/report?since=6h&tz=UTC")
    expect(page.locator(f"tr#action-{action_id}")).to_be_visible()
    assert dialogs == []


def test_an_organiser_cannot_open_the_report(page: Page, web: Web) -> None:
    sign_in(page, web.tokens["Jazz Club"])
    response = page.goto("/ops/report")
    assert response is not None and response.status == 403


def test_the_board_shows_each_stream_with_its_slots_a_now_line_and_the_failed_action_with_its_cause(
    page: Page, web: Web
) -> None:
    action_id = _failed_night(web)
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=3)
    with web.client("Jazz Club") as jazz:
        body = {
            "stream_id": STREAM,
            "start": soon.isoformat(),
            "end": (soon + timedelta(hours=1)).isoformat(),
        }
        assert jazz.post("/v1/bookings", json=body).status_code == 201
    sign_in(page, web.tokens["Night Desk"])
    rows = page.locator(".board-row")
    expect(rows).to_have_count(2)
    expect(rows.locator(".stream-name")).to_have_text(["Main stage", "Side stage"])
    main = page.locator(f".board-row[data-stream='{STREAM}']")
    failed = main.locator(f"rect.dot.failed[data-action='{action_id}']")
    expect(failed).to_have_count(1)
    expect(failed.locator("title")).to_contain_text("FastPix 500")
    expect(main.locator("rect.slot-bar.broadcast title")).to_contain_text(TITLE)  # escaped, as text
    expect(main.locator("rect.slot-bar.booking")).to_have_count(1)
    expect(main.locator("path.dots.planned title")).to_contain_text(
        "planned"
    )  # the booking's planned actions
    expect(main.locator("line.now")).to_have_count(1)
    now_x = float(main.locator("line.now").get_attribute("x1") or "nan")
    assert 190 < now_x < 210  # 6 h of a 30 h window


def test_a_failed_action_opens_from_the_report_with_every_api_call_it_made(page: Page, web: Web) -> None:
    action_id = _failed_night(web)
    with transaction(web.engine) as session:
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        for attempt in (1, 2):
            session.add(
                ActionEvent(
                    action_id=action_id,
                    stream_id=STREAM,
                    at=at + timedelta(seconds=10 * attempt),
                    actor="executor",
                    event="api_call",
                    attempt=attempt,
                    http_method="PUT",
                    http_path=f"/live/streams/{STREAM}/live-enable",
                    http_status=500,
                    latency_ms=120.4,
                    detail="internal error",
                )
            )
    sign_in(page, web.tokens["Night Desk"])
    page.goto("/ops/report?since=6h")
    page.get_by_role("link", name=f"#{action_id} enable").click()
    expect(page.locator("h1")).to_have_text(f"Action #{action_id}: enable on Main stage")
    expect(page.locator("dd.state")).to_have_text("failed")
    expect(page.locator("dd.cause")).to_contain_text("FastPix 500")
    calls = page.locator("table.events td.call")
    expect(calls).to_have_count(2)
    expect(calls.first).to_have_text(f"PUT /live/streams/{STREAM}/live-enable → 500 in 120 ms")
    page.goto("/ops")
    page.locator(f"a:has(rect.dot.failed[data-action='{action_id}'])").click()
    expect(page).to_have_url(f"{web.base_url}/ops/actions/{action_id}")
    response = page.goto("/ops/actions/999999")
    assert response is not None and response.status == 404


def test_the_board_refreshes_itself_in_place_keeping_the_scroll_position(page: Page, web: Web) -> None:
    page.set_viewport_size({"width": 1000, "height": 420})
    # The board asks for every 15 s; the test for every second (set before pages.js reads it).
    page.add_init_script(
        "document.addEventListener('DOMContentLoaded', () => {"
        " const b = document.querySelector('[data-refresh]'); if (b) b.dataset.refresh = '1'; });"
    )
    sign_in(page, web.tokens["Night Desk"])
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 100
    action_id = _failed_night(web)  # fails while the page is open
    expect(page.locator(f"rect.dot.failed[data-action='{action_id}']")).to_have_count(1, timeout=10_000)
    assert page.evaluate("window.scrollY") == scrolled


def test_every_invalid_schedule_row_is_listed_on_the_ops_page_with_its_reason(page: Page, web: Web) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    with transaction(web.engine) as session:
        for n in range(7):  # more than the health line itself lists
            at = start + timedelta(hours=n)
            session.add(
                Broadcast(
                    stream_id=STREAM,
                    starts_at=at,
                    ends_at=at + timedelta(minutes=30),
                    lead_seconds=0,
                    invalid_reason=f"reason number {n}",
                )
            )
    sign_in(page, web.tokens["Night Desk"])
    listed = page.locator("li.check ul.invalid-rows li")
    expect(listed).to_have_count(7)
    expect(listed.nth(6)).to_contain_text("reason number 6")

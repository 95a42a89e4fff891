"""An organiser's pages in a real browser: booking through the form and finding it on the week view,
a conflict explained with the input kept and the next free slot, move and cancel, another
organiser's slot shown only as busy, escaping, CSRF, a DST week in Europe/Berlin, a phone screen and
the calendar feed address."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from playwright.sync_api import Dialog, Page, Response, expect

from tests.browser.conftest import Watched
from tests.browser.web_support import OTHER_STREAM, STREAM, Web, book_through_form, sign_in

BERLIN = "Europe/Berlin"
# A week well ahead of any run (bookings in the past are refused), in Berlin's winter time (+01:00).
WEEK = "2027-01-11"
DASH = "\u2013"  # between a slot's start and end on the week view


def posted_to(web: Web, path: str) -> Callable[[Response], bool]:
    return lambda r: r.url == web.base_url + path and r.request.method == "POST"


def booking_id_of(page: Page, web: Web) -> int:
    match = re.fullmatch(re.escape(web.base_url) + r"/bookings/(\d+)\?(booked|moved)=1", page.url)
    assert match, page.url
    return int(match.group(1))


def test_a_booking_made_through_the_form_shows_on_the_week_view_in_the_remembered_zone(
    page: Page, web: Web
) -> None:
    sign_in(page, web.tokens["Jazz Club"])
    book_through_form(
        page,
        stream="Side stage",
        title="Late set",
        start="2027-01-12T19:00",
        end="2027-01-12T21:30",
        tz=BERLIN,
    )
    expect(page.get_by_role("status")).to_have_text("Booked.")
    booking_id = booking_id_of(page, web)
    expect(page.locator("dd.starts")).to_have_text("Tue 12 Jan 19:00 (+01:00)")
    expect(page.locator("dd.stream-name")).to_have_text("Side stage")
    row = web.booking_row(booking_id)
    assert row.stream_id == OTHER_STREAM
    assert row.starts_at == datetime(2027, 1, 12, 18, 0, tzinfo=UTC)
    assert row.lead_seconds == 300  # the default, as the form says

    page.goto(f"/?week={WEEK}")  # no tz given: the zone chosen on the form is remembered
    expect(page.locator(".zone-name")).to_have_text(BERLIN)
    side = page.locator(f"section.stream[data-stream='{OTHER_STREAM}']")
    expect(side.locator("h2")).to_have_text("Side stage")
    tuesday = side.locator("li.day").nth(1)
    expect(tuesday.locator("h3")).to_have_text("Tue 12 Jan")
    expect(tuesday.locator(".slot.mine")).to_have_text(f"Late set 19:00 (+01:00) {DASH} 21:30 (+01:00)")
    page.get_by_role("link", name="Next week →").click()
    expect(page.locator("h1")).to_have_text("Week of Mon 18 Jan")
    expect(page.locator(".slot.mine")).to_have_count(0)


def test_a_conflict_keeps_the_input_names_the_busy_slot_and_offers_the_next_free_one(
    page: Page, web: Web
) -> None:
    # Chess Society holds 19:00-21:00 Berlin on the main stage (through the API).
    with web.client("Chess Society") as chess:
        body = {
            "stream_id": STREAM,
            "start": "2027-01-12T18:00:00Z",
            "end": "2027-01-12T20:00:00Z",
            "title": "Chess final",
        }
        assert chess.post("/v1/bookings", json=body).status_code == 201
    sign_in(page, web.tokens["Jazz Club"])
    with page.expect_response(posted_to(web, "/book")) as answer:
        book_through_form(
            page,
            stream="Main stage",
            title="Jam",
            start="2027-01-12T20:00",
            end="2027-01-12T21:00",
            tz=BERLIN,
        )
    assert answer.value.status == 409
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(
        "collides with a busy slot from Tue 12 Jan 18:55 (+01:00) to 21:00 (+01:00)"
    )
    expect(alert).not_to_contain_text("Chess final")
    expect(alert.locator(".free-slot")).to_have_text("Tue 12 Jan 21:05 (+01:00) to 22:05 (+01:00)")
    expect(page.locator("input[name=title]")).to_have_value("Jam")
    expect(page.locator("input[name=start]")).to_have_value("2027-01-12T20:00")
    expect(page.locator("input[name=end]")).to_have_value("2027-01-12T21:00")
    expect(page.locator("select[name=tz]")).to_have_value(BERLIN)
    expect(page.locator("select[name=stream]")).to_have_value(STREAM)

    page.get_by_role("link", name="Use that slot").click()
    expect(page.locator("input[name=start]")).to_have_value("2027-01-12T21:05")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("status")).to_have_text("Booked.")
    expect(page.locator("h1")).to_have_text("Jam")

    page.goto(f"/?week={WEEK}")
    tuesday = page.locator(f"section.stream[data-stream='{STREAM}'] li.day").nth(1)
    expect(tuesday.locator(".slot.busy")).to_have_text(f"busy 18:55 (+01:00) {DASH} 21:00 (+01:00)")
    expect(tuesday.locator(".slot.mine")).to_have_text(f"Jam 21:05 (+01:00) {DASH} 22:05 (+01:00)")
    expect(page.locator("main")).not_to_contain_text("Chess")


def test_an_organiser_moves_then_cancels_their_booking_after_confirming(page: Page, web: Web) -> None:
    sign_in(page, web.tokens["Jazz Club"])
    book_through_form(
        page,
        stream="Main stage",
        title="Rehearsal",
        start="2027-01-13T10:00",
        end="2027-01-13T11:00",
        tz=BERLIN,
    )
    booking_id = booking_id_of(page, web)
    page.fill("input[name=start]", "2027-01-14T15:00")
    page.fill("input[name=end]", "2027-01-14T16:30")
    page.get_by_role("button", name="Move").click()
    expect(page.get_by_role("status")).to_have_text("Moved.")
    expect(page.locator("dd.starts")).to_have_text("Thu 14 Jan 15:00 (+01:00)")
    expect(page.locator("dd.ends")).to_have_text("Thu 14 Jan 16:30 (+01:00)")
    assert web.booking_row(booking_id).starts_at == datetime(2027, 1, 14, 14, 0, tzinfo=UTC)

    page.get_by_role("link", name="Cancel this booking…").click()
    expect(page.locator("h1")).to_have_text("Cancel “Rehearsal”?")
    assert web.booking_row(booking_id).cancelled_at is None  # asking is not cancelling
    page.get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_role("status")).to_have_text(f"Booking #{booking_id} is cancelled; its slot is free.")
    assert web.booking_row(booking_id).cancelled_at is not None
    page.goto(f"/?week={WEEK}")
    expect(page.locator(".slot")).to_have_count(0)


def test_another_organiser_sees_the_booking_only_as_busy_and_cannot_open_it(
    desk: Watched, other_desk: Watched, web: Web
) -> None:
    jazz = desk.page()
    sign_in(jazz, web.tokens["Jazz Club"])
    book_through_form(
        jazz,
        stream="Main stage",
        title="Secret gig",
        start="2027-01-15T20:00",
        end="2027-01-15T22:00",
        tz=BERLIN,
    )
    booking_id = booking_id_of(jazz, web)
    chess = other_desk.page()
    sign_in(chess, web.tokens["Chess Society"])
    chess.goto(f"/?week={WEEK}&tz={BERLIN}")
    friday = chess.locator(f"section.stream[data-stream='{STREAM}'] li.day").nth(4)
    expect(friday.locator(".slot.busy")).to_have_text(f"busy 19:55 (+01:00) {DASH} 22:00 (+01:00)")
    expect(chess.locator("main")).not_to_contain_text("Secret gig")
    expect(chess.locator("a.slot")).to_have_count(0)
    response = chess.goto(f"/bookings/{booking_id}")
    assert response is not None and response.status == 404
    expect(chess.locator("main")).not_to_contain_text("Secret gig")
    refused = chess.request.post(f"/bookings/{booking_id}/cancel", form={"csrf": "x"}, max_redirects=0)
    assert refused.status == 403
    assert web.booking_row(booking_id).cancelled_at is None


def test_a_script_in_a_title_is_shown_as_text_and_never_runs(page: Page, web: Web) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    title = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    sign_in(page, web.tokens["Jazz Club"])
    book_through_form(
        page, stream="Main stage", title=title, start="2027-01-12T08:00", end="2027-01-12T09:00", tz=BERLIN
    )
    expect(page.locator("h1")).to_have_text(title)
    page.goto(f"/?week={WEEK}")
    expect(page.locator(".slot.mine .title")).to_have_text(title)
    assert dialogs == []
    assert page.locator("main script, main img").count() == 0


def test_a_booking_posted_without_the_session_csrf_token_is_refused_and_changes_nothing(
    page: Page, web: Web
) -> None:
    sign_in(page, web.tokens["Jazz Club"])
    form = {
        "stream": STREAM,
        "start": "2027-01-12T08:00",
        "end": "2027-01-12T09:00",
        "tz": BERLIN,
        "title": "x",
    }
    for csrf in ("", "forged"):
        refused = page.request.post("/book", form={**form, "csrf": csrf}, max_redirects=0)
        assert refused.status == 403
        assert "did not come from your signed-in page" in refused.text()
    assert web.broadcast_count() == 0


def test_a_dst_week_in_berlin_reads_right(page: Page, web: Web) -> None:
    # Clocks in Berlin go from +01:00 to +02:00 at 02:00 on Sunday 28 March 2027.
    sign_in(page, web.tokens["Jazz Club"])
    book_through_form(
        page,
        stream="Main stage",
        title="Across the change",
        start="2027-03-28T01:00",
        end="2027-03-28T04:00",
        tz=BERLIN,
        lead="0",
    )
    booking_id = booking_id_of(page, web)
    row = web.booking_row(booking_id)
    assert (row.starts_at, row.ends_at) == (
        datetime(2027, 3, 28, 0, 0, tzinfo=UTC),
        datetime(2027, 3, 28, 2, 0, tzinfo=UTC),
    )  # two hours on the air: the hour from 02:00 does not exist that night
    with page.expect_response(posted_to(web, "/book")) as answer:
        book_through_form(
            page,
            stream="Side stage",
            title="Gap",
            start="2027-03-28T02:30",
            end="2027-03-28T03:30",
            tz=BERLIN,
        )
    assert answer.value.status == 422
    expect(page.get_by_role("alert")).to_contain_text(
        "start: 2027-03-28 02:30 does not exist in Europe/Berlin"
    )
    book_through_form(
        page, stream="Side stage", title="Monday", start="2027-03-29T10:00", end="2027-03-29T11:00", tz=BERLIN
    )
    page.goto("/?week=2027-03-22")
    days = page.locator(f"section.stream[data-stream='{STREAM}'] li.day")
    expect(days.nth(6).locator(".clocks")).to_have_text("clocks change: +01:00 to +02:00")
    expect(days.nth(5).locator(".clocks")).to_have_count(0)
    expect(days.nth(6).locator(".slot.mine")).to_have_text(
        f"Across the change 01:00 (+01:00) {DASH} 04:00 (+02:00)"
    )
    page.get_by_role("link", name="Next week →").click()
    monday = page.locator(f"section.stream[data-stream='{OTHER_STREAM}'] li.day").nth(0)
    expect(monday.locator(".slot.mine")).to_have_text(f"Monday 10:00 (+02:00) {DASH} 11:00 (+02:00)")
    assert web.booking_row(booking_id + 1).starts_at == datetime(2027, 3, 29, 8, 0, tzinfo=UTC)


def test_on_a_phone_an_organiser_books_and_reads_their_week_without_sideways_scrolling(
    phone: Watched, web: Web
) -> None:
    page = phone.page()
    sign_in(page, web.tokens["Jazz Club"])
    book_through_form(
        page,
        stream="Side stage",
        title="Pocket show",
        start="2027-01-12T19:00",
        end="2027-01-12T20:00",
        tz=BERLIN,
    )
    expect(page.get_by_role("status")).to_have_text("Booked.")
    page.goto(f"/?week={WEEK}")
    expect(page.locator(".slot.mine")).to_have_text(f"Pocket show 19:00 (+01:00) {DASH} 20:00 (+01:00)")
    for path in (f"/?week={WEEK}", "/book", page.locator("a.slot.mine").get_attribute("href") or ""):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"


def test_the_calendar_address_is_shown_once_to_copy_and_serves_the_bookings(page: Page, web: Web) -> None:
    sign_in(page, web.tokens["Jazz Club"])
    book_through_form(
        page,
        stream="Main stage",
        title="In my calendar",
        start="2027-01-12T19:00",
        end="2027-01-12T20:00",
        tz=BERLIN,
    )
    page.goto("/")
    page.get_by_role("button", name="Get my calendar address").click()
    address = page.locator("input#feed").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/v1/calendar/[A-Za-z0-9_-]+\.ics", address), address
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    feed = page.request.get(web.base_url + address.removeprefix("http://127.0.0.1:8000"))
    assert feed.status == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "In my calendar" in feed.text()


def test_without_javascript_an_organiser_books_moves_and_cancels(no_script: Watched, web: Web) -> None:
    page = no_script.page()
    sign_in(page, web.tokens["Jazz Club"])
    book_through_form(
        page, stream="Main stage", title="Plain", start="2027-01-12T19:00", end="2027-01-12T20:00", tz=BERLIN
    )
    booking_id = booking_id_of(page, web)
    page.fill("input[name=end]", "2027-01-12T20:30")
    page.get_by_role("button", name="Move").click()
    expect(page.locator("dd.ends")).to_have_text("Tue 12 Jan 20:30 (+01:00)")
    page.get_by_role("link", name="Cancel this booking…").click()
    page.get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_role("status")).to_have_text(f"Booking #{booking_id} is cancelled; its slot is free.")
    page.get_by_role("button", name="Get my calendar address").click()
    assert page.locator("input#feed").input_value().endswith(".ics")
    expect(page.get_by_role("button", name="Copy")).to_be_hidden()  # the copy button needs JavaScript

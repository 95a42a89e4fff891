"""The pictures in docs/web.md, taken from a small seeded night: the sign-in page, an organiser's week,
a booking refused with the next free slot, a booking, the ops board, the report, an action's history,
a paused stream's page and a cancel to confirm, on a desktop screen, and the week on a phone. Each
picture is checked to be a real PNG; with ONAIR_SCREENSHOTS=docs/web they are written where the docs
show them (`./dev screenshots`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched
from tests.browser.test_ops_pages import _failed_night
from tests.browser.web_support import OTHER_STREAM, STREAM, Web, book_through_form, sign_in

PNG = b"\x89PNG\r\n\x1a\n"


def _shot(page: Page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5_000, name


def test_pictures_of_every_page(
    desk: Watched, other_desk: Watched, phone: Watched, web: Web, tmp_path: Path
) -> None:
    folder = Path(os.environ.get("ONAIR_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    action_id = _failed_night(web)
    base = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    with web.client("Chess Society") as chess:
        for stream, start in ((STREAM, base), (OTHER_STREAM, base + timedelta(hours=3))):
            body = {
                "stream_id": stream,
                "start": start.isoformat(),
                "end": (start + timedelta(hours=2)).isoformat(),
            }
            assert chess.post("/v1/bookings", json=body).status_code == 201

    def wall(at: datetime) -> str:
        return f"{at:%Y-%m-%dT%H:%M}"

    organiser = desk.page()
    organiser.goto("/login")
    _shot(organiser, folder, "login")
    sign_in(organiser, web.tokens["Jazz Club"])
    book_through_form(
        organiser,
        stream="Side stage",
        title="Jazz night",
        start=wall(base + timedelta(hours=6)),
        end=wall(base + timedelta(hours=8)),
        tz="UTC",
    )
    expect(organiser.get_by_role("status")).to_have_text("Booked.")
    _shot(organiser, folder, "booking")
    book_through_form(
        organiser,
        stream="Main stage",
        title="Jam",
        start=wall(base + timedelta(hours=1)),
        end=wall(base + timedelta(hours=2)),
        tz="UTC",
    )
    expect(organiser.get_by_role("alert")).to_contain_text("next free slot")
    _shot(organiser, folder, "book-conflict")
    organiser.goto(f"/?week={base:%Y-%m-%d}")
    _shot(organiser, folder, "week")

    small = phone.page()
    sign_in(small, web.tokens["Jazz Club"])
    small.goto(f"/?week={base:%Y-%m-%d}&tz=UTC")
    _shot(small, folder, "week-phone")

    ops = other_desk.page()
    sign_in(ops, web.tokens["Night Desk"])
    ops.goto(f"/ops/streams/{OTHER_STREAM}")
    ops.fill("input[name=note]", "encoder swap")
    ops.get_by_role("button", name="Pause this stream").click()
    expect(ops.locator(".paused-now")).to_be_visible()
    _shot(ops, folder, "ops-stream")
    ops.goto("/ops")
    _shot(ops, folder, "ops-board")
    ops.goto("/ops/report?since=6h")
    _shot(ops, folder, "ops-report")
    ops.goto(f"/ops/actions/{action_id}")
    _shot(ops, folder, "ops-action")
    ops.goto("/ops")
    ops.locator("rect.slot-bar.booking").first.click()
    expect(ops.get_by_role("button", name="Yes, cancel it")).to_be_visible()
    _shot(ops, folder, "ops-cancel")

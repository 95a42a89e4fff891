"""The app served for the browser tests (uvicorn in a thread over a migrated SQLite database, as the
API tests serve it), with two organisers, an ops account and two named streams, and the steps the
tests share: signing in through the form."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.integration.api_support import OTHER_STREAM, STREAM, ApiServer, serve
from tests.integration.store_support import migrated
from worker.service.accounts import add_ops
from worker.store.db import transaction
from worker.store.schedules import upsert_stream

__all__ = ["OTHER_STREAM", "STREAM", "Web", "book_through_form", "sign_in", "web_server"]


@dataclass
class Web(ApiServer):
    def add_ops(self, name: str) -> str:
        _, token = add_ops(self.engine, name, now=datetime.now(UTC))
        self.tokens[name] = token
        return token


def web_server(tmp_path: Path) -> Iterator[Web]:
    url = f"sqlite:///{tmp_path}/onair.db"
    for engine in migrated(url):
        with transaction(engine) as session:
            now = datetime.now(UTC)
            upsert_stream(session, STREAM, name="Main stage", status="idle", seen_at=now)
            upsert_stream(session, OTHER_STREAM, name="Side stage", status="idle", seen_at=now)
        server = serve(engine, url)
        api = next(server)
        web = Web(api.base_url, engine)
        web.add_organiser("Jazz Club")
        web.add_organiser("Chess Society")
        web.add_ops("Night Desk")
        try:
            yield web
        finally:
            next(server, None)


def sign_in(page: Page, token: str) -> None:
    page.goto("/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    expect(page.locator("header .who")).to_be_visible()


def book_through_form(
    page: Page, *, stream: str, title: str, start: str, end: str, tz: str, lead: str = ""
) -> None:
    """Fill /book as a person does: the stream by its name, wall times in the chosen zone."""
    page.goto("/book")
    page.select_option("select[name=stream]", label=stream)
    page.fill("input[name=title]", title)
    page.fill("input[name=start]", start)
    page.fill("input[name=end]", end)
    page.select_option("select[name=tz]", tz)
    page.fill("input[name=lead]", lead)
    page.get_by_role("button", name="Book").click()

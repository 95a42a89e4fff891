"""Browser fixtures: Debian's Chromium driven by Playwright (one browser for the whole run, a fresh
context per test), over `onair api` served by uvicorn on a free port and a migrated SQLite database.
Every page a test opens is watched: a console error or an uncaught script error fails the test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Response,
    sync_playwright,
)

from tests.browser.web_support import Web, web_server
from tests.integration.simulator_fixture import Simulator, simulator

__all__ = ["Simulator", "Watched", "simulator"]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = os.environ.get("ONAIR_TEST_CHROMIUM") or shutil.which("chromium")
    if not found or not Path(found).exists():
        pytest.fail(
            "no Chromium for the browser tests: `apt-get install -y chromium` (./dev test does it as root) "
            "or set ONAIR_TEST_CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session; Playwright gives each launch a fresh temporary profile
    (user-data dir), and each test gets a fresh context (no cookies or storage from another test)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def web(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Web]:
    yield from web_server(tmp_path)


class Watched:
    """A browser context whose pages' console errors and uncaught exceptions are collected."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.errors: list[str] = []
        # Pages that answered with an error status on purpose (401, 403, 429...): the tests assert
        # those statuses; Chromium also logs each as a console error, which is not a fault of the page.
        self._error_documents: set[str] = set()

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        page.on("response", self._response)
        return page

    def _response(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type == "document":
            self._error_documents.add(response.url)

    def _console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url")
        if message.text.startswith("Failed to load resource") and url in self._error_documents:
            return
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location.get('url')}")

    def _page_error(self, error: Error) -> None:
        self.errors.append(f"page error: {error.message}")


def _watched(browser: Browser, web: Web, **options: object) -> Iterator[Watched]:
    context = browser.new_context(base_url=web.base_url, **options)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    watched = Watched(context)
    try:
        yield watched
    finally:
        context.close()
    assert watched.errors == [], "errors in the browser console:\n" + "\n".join(watched.errors)


@pytest.fixture
def desk(browser: Browser, web: Web) -> Iterator[Watched]:
    """A desktop-sized browser context on the served app."""
    yield from _watched(browser, web, viewport={"width": 1280, "height": 900})


@pytest.fixture
def other_desk(browser: Browser, web: Web) -> Iterator[Watched]:
    """A second, separate browser (another person's cookies)."""
    yield from _watched(browser, web, viewport={"width": 1280, "height": 900})


@pytest.fixture
def phone(browser: Browser, web: Web) -> Iterator[Watched]:
    """A phone-sized context: 390 x 844 CSS pixels, touch, as an iPhone 12-14 reports."""
    yield from _watched(
        browser,
        web,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=3,
    )


@pytest.fixture
def no_script(browser: Browser, web: Web) -> Iterator[Watched]:
    """A browser with JavaScript turned off: every core task must still work."""
    yield from _watched(browser, web, viewport={"width": 1280, "height": 900}, java_script_enabled=False)


@pytest.fixture
def page(desk: Watched) -> Page:
    return desk.page()

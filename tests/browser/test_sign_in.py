"""Signing in to the pages in a real browser: a good token, a wrong one, a revoked one, the limit on
failed attempts, signing out, and the session cookie's flags."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched
from tests.browser.web_support import Web, sign_in
from worker.domain.sign_in_limit import MAX_FAILURES
from worker.web.session import COOKIE


def test_an_organiser_signs_in_with_their_token_and_lands_on_their_page(page: Page, web: Web) -> None:
    page.goto("/")
    expect(page).to_have_url(f"{web.base_url}/login")
    sign_in(page, web.tokens["Jazz Club"])
    expect(page).to_have_url(f"{web.base_url}/")
    expect(page.locator("header .who")).to_have_text("Jazz Club")
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert web.tokens["Jazz Club"] not in cookie["value"]


def test_an_ops_token_opens_the_ops_page_and_an_organiser_is_kept_out_of_it(
    desk: Watched, other_desk: Watched, web: Web
) -> None:
    ops = desk.page()
    sign_in(ops, web.tokens["Night Desk"])
    expect(ops).to_have_url(f"{web.base_url}/ops")
    expect(ops.locator("header .who")).to_have_text("Night Desk (ops)")
    organiser = other_desk.page()
    sign_in(organiser, web.tokens["Chess Society"])
    response = organiser.goto("/ops")
    assert response is not None and response.status == 403
    expect(organiser.locator("h1")).to_have_text("Not for this account")


def test_a_wrong_token_is_refused_with_a_message_and_no_session(page: Page, web: Web) -> None:
    page.goto("/login")
    page.fill("input[name=token]", "not-a-token")
    with page.expect_response(f"{web.base_url}/login") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_contain_text("That token was not accepted")
    assert [c for c in page.context.cookies() if c["name"] == COOKIE] == []
    assert page.goto("/") is not None
    expect(page).to_have_url(f"{web.base_url}/login")


def test_repeated_failures_from_one_address_are_refused_with_429_even_for_a_good_token(
    page: Page, web: Web
) -> None:
    page.goto("/login")
    for _ in range(MAX_FAILURES):
        page.fill("input[name=token]", "guess")
        page.click("button[type=submit]")
        expect(page.get_by_role("alert")).to_contain_text("not accepted")
    page.fill("input[name=token]", web.tokens["Jazz Club"])
    with page.expect_response(f"{web.base_url}/login") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 429
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins from your address")


def test_revoking_the_token_ends_a_session_already_open(page: Page, web: Web) -> None:
    sign_in(page, web.tokens["Jazz Club"])
    web.revoke("Jazz Club")
    page.goto("/")
    expect(page).to_have_url(f"{web.base_url}/login")
    page.fill("input[name=token]", web.tokens["Jazz Club"])
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("not accepted")


def test_signing_out_ends_the_session(page: Page, web: Web) -> None:
    sign_in(page, web.tokens["Jazz Club"])
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{web.base_url}/login")
    page.goto("/")
    expect(page).to_have_url(f"{web.base_url}/login")


def test_a_post_without_the_session_csrf_token_is_refused(page: Page, web: Web) -> None:
    sign_in(page, web.tokens["Jazz Club"])
    refused = page.request.post("/logout", form={"csrf": "forged"}, max_redirects=0)
    assert refused.status == 403
    page.goto("/")
    expect(page.locator("header .who")).to_have_text("Jazz Club")


def test_pages_send_a_content_security_policy_without_unsafe_inline(page: Page, web: Web) -> None:
    response = page.goto("/login")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"

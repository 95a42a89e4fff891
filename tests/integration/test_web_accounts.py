"""Accounts that sign in to the pages (both backends): `onair ops add | list | revoke`, an ops token
that signs in to the pages but never to the booking API, sessions that end when their token is
revoked or replaced, and one cookie-signing key shared by every API process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.cli_support import Onair, assert_one_line_error, migrated_on_backend
from tests.integration.store_support import BACKENDS, T0
from worker.service import accounts
from worker.store.db import transaction
from worker.store.organisers import authenticate, create_organiser, hash_token
from worker.store.web_keys import SESSION_KEY, session_key


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


def _token_of(output: str) -> str:
    lines = output.splitlines()
    return lines[lines.index(next(line for line in lines if "cannot be shown again" in line)) + 1].strip()


def test_ops_add_prints_a_token_once_that_signs_in_as_ops_but_not_to_the_booking_api(onair: Onair) -> None:
    added = onair.ok("ops", "add", "Night Desk")
    token = _token_of(added.stdout)
    assert "Sign in at http://127.0.0.1:8000/login" in added.stdout
    with onair.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash, role FROM organisers WHERE name = 'Night Desk'")).one()
    assert tuple(stored) == (hash_token(token), "ops")
    account = accounts.sign_in(onair.engine, token)
    assert account is not None and account.is_ops and account.name == "Night Desk"
    with transaction(onair.engine, immediate=False) as session:
        assert authenticate(session, token) is None  # the bearer API takes organiser tokens only
    listed = onair.json("ops", "list")
    assert [(a["name"], a["revoked_at"]) for a in listed] == [("Night Desk", None)]
    assert token not in onair.ok("ops", "list").stdout


def test_ops_revoke_ends_the_token_and_its_sessions_and_says_so(onair: Onair) -> None:
    token = _token_of(onair.ok("ops", "add", "Night Desk").stdout)
    account = accounts.sign_in(onair.engine, token)
    assert account is not None
    assert accounts.still_signed_in(onair.engine, account.name, account.fingerprint) == account
    revoked = onair.ok("ops", "revoke", "Night Desk")
    assert "its token and its sessions no longer work" in revoked.stdout
    assert accounts.sign_in(onair.engine, token) is None
    assert accounts.still_signed_in(onair.engine, account.name, account.fingerprint) is None
    assert onair.json("ops", "list") == []  # revoked accounts only with --all
    assert onair.json("ops", "list", "--all")[0]["revoked_at"]
    assert_one_line_error(onair("ops", "revoke", "Night Desk"), "already revoked")
    assert_one_line_error(onair("ops", "add", "Night Desk"), "Night Desk")


def test_ops_revoke_refuses_an_organiser_and_an_unknown_name(onair: Onair) -> None:
    with transaction(onair.engine) as session:
        create_organiser(session, "Jazz Club", now=T0)
    assert onair("ops", "revoke", "Jazz Club").exit_code != 0
    assert onair("ops", "revoke", "Nobody").exit_code != 0
    assert onair.json("organiser", "list")[0]["revoked_at"] is None


def test_a_session_started_with_a_replaced_token_no_longer_signs_in(onair: Onair) -> None:
    with transaction(onair.engine) as session:
        _, token = create_organiser(session, "Jazz Club", now=T0)
    account = accounts.sign_in(onair.engine, token)
    assert account is not None and not account.is_ops
    with onair.engine.begin() as conn:  # what a token rotation does: a new hash for the same account
        conn.execute(text("UPDATE organisers SET token_hash = :h WHERE name = 'Jazz Club'"), {"h": "0" * 64})
    assert accounts.still_signed_in(onair.engine, "Jazz Club", account.fingerprint) is None


def test_every_api_process_signs_sessions_with_the_same_stored_key(onair: Onair) -> None:
    first = session_key(onair.engine, T0)
    again = session_key(onair.engine, T0)
    assert first == again and len(first) == 64
    with onair.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT value FROM scheduler_state WHERE key = :k"), {"k": SESSION_KEY}
        ).all()
    assert [r[0] for r in rows] == [first]

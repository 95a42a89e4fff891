"""Organisers and their tokens: shown once, stored hashed, refused once revoked."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from tests.integration.store_support import BACKENDS, T0, migrated_engine
from worker.store.db import transaction
from worker.store.organisers import (
    OrganiserError,
    authenticate,
    create_organiser,
    list_organisers,
    revoke_organiser,
)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


def test_a_token_is_stored_only_as_its_hash_and_authenticates_its_organiser(engine: Engine) -> None:
    with transaction(engine) as session:
        _, alice_token = create_organiser(session, "  Alice  ", now=T0)
        _, bob_token = create_organiser(session, "Bob", now=T0)
    with engine.connect() as conn:
        stored = dict(tuple(r) for r in conn.execute(text("SELECT name, token_hash FROM organisers")))

    assert stored == {
        "Alice": hashlib.sha256(alice_token.encode()).hexdigest(),
        "Bob": hashlib.sha256(bob_token.encode()).hexdigest(),
    }
    assert len(alice_token) >= 43 and alice_token != bob_token
    with transaction(engine, immediate=False) as session:
        alice, bob = authenticate(session, alice_token), authenticate(session, bob_token)
        assert alice is not None and alice.name == "Alice"
        assert bob is not None and bob.name == "Bob"
        assert authenticate(session, alice_token + "x") is None
        assert authenticate(session, "") is None
        assert authenticate(session, stored["Alice"]) is None  # the hash itself is no token


def test_a_revoked_organiser_is_refused_and_cannot_be_revoked_twice(engine: Engine) -> None:
    with transaction(engine) as session:
        _, token = create_organiser(session, "Alice", now=T0)
    with transaction(engine) as session:
        revoke_organiser(session, "Alice", now=T0)

    with transaction(engine) as session:
        assert authenticate(session, token) is None
        assert [o.name for o in list_organisers(session)] == ["Alice"]
        assert list_organisers(session, include_revoked=False) == []
        with pytest.raises(OrganiserError, match=r"^organiser 'Alice' was already revoked at 2026-11-27"):
            revoke_organiser(session, "Alice", now=T0)
        with pytest.raises(OrganiserError, match=r"^no organiser named 'Carol'"):
            revoke_organiser(session, "Carol", now=T0)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "organiser name is empty"),
        ("x" * 256, "organiser name has 256 characters; at most 255"),
        ("bad\nname", "organiser name contains a control character (U+000A at position 4)"),
        ("bad\x1b[2Jname", "organiser name contains a control character (U+001B at position 4)"),
        ("Alice", "organiser 'Alice' already exists: pick another name"),
    ],
)
def test_bad_names_are_refused_with_the_reason(engine: Engine, name: str, message: str) -> None:
    with transaction(engine) as session:
        create_organiser(session, "Alice", now=T0)
    with pytest.raises(OrganiserError) as caught, transaction(engine) as session:
        create_organiser(session, name, now=T0)
    assert str(caught.value) == message


def test_a_hand_inserted_organiser_cannot_take_a_token_hash_already_in_use(engine: Engine) -> None:
    # One hash names one organiser: a bearer token finds its organiser by it (unique index).
    with transaction(engine) as session:
        _, token = create_organiser(session, "Alice", now=T0)
    taken = hashlib.sha256(token.encode()).hexdigest()

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO organisers (name, token_hash) VALUES ('Mallory', :h)"), {"h": taken})

    with transaction(engine, immediate=False) as session:
        found = authenticate(session, token)
        assert found is not None and found.name == "Alice"

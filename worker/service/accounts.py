"""Accounts that sign in to onair's pages: organisers (they book) and ops (they watch the night and
act on it). Both sign in with a token shown once and stored only as its sha256; a session remembers
which token started it, so revoking or rotating the token ends its sessions at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from worker.store.db import transaction
from worker.store.models import Organiser
from worker.store.organisers import (
    OPS,
    ORGANISER,
    OrganiserError,
    authenticate,
    create_organiser,
    find_organiser,
    list_organisers,
    revoke_organiser,
)
from worker.store.web_keys import session_key

AccountError = OrganiserError  # an account cannot be created, found or revoked; the message says why

# Enough of the token's hash to tell a rotated token from the one a session was started with.
FINGERPRINT_CHARS = 16


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str  # ORGANISER or OPS
    fingerprint: str
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def is_ops(self) -> bool:
        return self.role == OPS

    @property
    def actor(self) -> str:
        """Who the history says acted: `ops:NAME` for an ops account on the pages (the CLI records the
        OS user, the booking API the organiser's name)."""
        return f"ops:{self.name}" if self.is_ops else self.name


def _account(row: Organiser) -> Account:
    return Account(
        row.id, row.name, row.role, row.token_hash[:FINGERPRINT_CHARS], row.created_at, row.revoked_at
    )


def add_ops(engine: Engine, name: str, *, now: datetime) -> tuple[Account, str]:
    """A new ops account and its token (shown once). OrganiserError names what is wrong."""
    with transaction(engine) as session:
        row, token = create_organiser(session, name, now=now, role=OPS)
        return _account(row), token


def list_ops(engine: Engine, *, include_revoked: bool = True) -> list[Account]:
    with transaction(engine, immediate=False) as session:
        return [_account(r) for r in list_organisers(session, include_revoked=include_revoked, role=OPS)]


def revoke_ops(engine: Engine, name: str, *, now: datetime) -> Account:
    with transaction(engine) as session:
        return _account(revoke_organiser(session, name, now=now, role=OPS))


def sign_in(engine: Engine, token: str) -> Account | None:
    """The active organiser or ops account this token belongs to, or None."""
    with transaction(engine, immediate=False) as session:
        row = authenticate(session, token.strip(), roles=(ORGANISER, OPS))
        return None if row is None else _account(row)


def still_signed_in(engine: Engine, name: str, fingerprint: str) -> Account | None:
    """The session's account while it is active and its token is the one the session began with."""
    with transaction(engine, immediate=False) as session:
        row = find_organiser(session, name)
        if row is None or row.revoked_at is not None or row.token_hash[:FINGERPRINT_CHARS] != fingerprint:
            return None
        return _account(row)


def session_signing_key(engine: Engine, now: datetime) -> str:
    """The key every `onair api` process signs the pages' session cookies with (kept in the database,
    made on first use: docs/web.md)."""
    return session_key(engine, now)

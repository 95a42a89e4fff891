"""Organisers: the people who book slots, each with their own API token.

A token is `secrets.token_urlsafe(32)` (256 random bits), shown once when the organiser is created;
only its sha256 hex is stored. A salt or a slow hash guards guessable secrets such as passwords; a
random 256-bit token cannot be guessed, so a plain sha256 is enough, and being deterministic it is
the key of an indexed lookup (one probe per request, whatever the number of organisers).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.domain.text import control_character_problem
from worker.store.models import Organiser

TOKEN_BYTES = 32
NAME_MAX_CHARS = 255
ORGANISER = "organiser"
OPS = "ops"


class OrganiserError(ValueError):
    """An organiser cannot be created, found or revoked; the message says why."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """The name as stored (surrounding blanks removed), or OrganiserError saying what is wrong."""
    cleaned = name.strip()
    if not cleaned:
        raise OrganiserError("organiser name is empty")
    if len(cleaned) > NAME_MAX_CHARS:
        raise OrganiserError(f"organiser name has {len(cleaned)} characters; at most {NAME_MAX_CHARS}")
    # Checked before stripping too: strip() also removes CR, LF and NEL, which are refused, not trimmed.
    control = control_character_problem(name, "organiser name")
    if control:
        raise OrganiserError(control)
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise OrganiserError("organiser name contains invisible or unassigned characters")
    return cleaned


def create_organiser(
    session: Session, name: str, *, now: datetime, role: str = ORGANISER
) -> tuple[Organiser, str]:
    """Add an organiser (or, with role `ops`, an ops account); returns the row and its plaintext
    token, which is not kept anywhere. Names are unique across both kinds."""
    cleaned = check_name(name)
    existing = find_organiser(session, cleaned)
    if existing is not None:
        state = " (revoked)" if existing.revoked_at is not None else ""
        kind = "ops account" if existing.role == OPS else "organiser"
        raise OrganiserError(f"{kind} {cleaned!r} already exists{state}: pick another name")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = Organiser(name=cleaned, token_hash=hash_token(token), created_at=now, role=role)
    session.add(row)
    session.flush()
    return row, token


def authenticate(session: Session, token: str, *, roles: tuple[str, ...] = (ORGANISER,)) -> Organiser | None:
    """The active account of one of `roles` this token belongs to, or None (unknown token, another
    kind of account, or revoked)."""
    if not token:
        return None
    presented = hash_token(token)
    # One probe of the unique index on token_hash. Its timing depends on the sha256 of the token, which
    # a caller cannot steer towards a stored hash, so it says nothing about any organiser's token.
    found = session.scalars(select(Organiser).where(Organiser.token_hash == presented)).one_or_none()
    # The final check is constant-time and exact, whatever the database's string comparison.
    if found is None or not hmac.compare_digest(presented, found.token_hash):
        return None
    if found.revoked_at is not None or found.role not in roles:
        return None
    return found


def find_organiser(session: Session, name: str) -> Organiser | None:
    return session.scalars(select(Organiser).where(Organiser.name == name.strip())).first()


def require_organiser(session: Session, name: str) -> Organiser:
    """The active organiser of this name, or OrganiserError naming the fix."""
    row = find_organiser(session, name)
    if row is None or row.role != ORGANISER:
        raise OrganiserError(f"no organiser named {name.strip()!r} (see `onair organiser list`)")
    if row.revoked_at is not None:
        raise OrganiserError(f"organiser {row.name!r} was revoked at {row.revoked_at.isoformat()}")
    return row


def list_organisers(
    session: Session, *, include_revoked: bool = True, role: str = ORGANISER
) -> list[Organiser]:
    query = select(Organiser).where(Organiser.role == role).order_by(Organiser.name)
    if not include_revoked:
        query = query.where(Organiser.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_organiser(session: Session, name: str, *, now: datetime, role: str = ORGANISER) -> Organiser:
    """Revoke an organiser (or ops account): the token stops working at once, and so do the sessions
    it started. An organiser's bookings stay."""
    row = find_organiser(session, name)
    if row is None or row.role != role:
        listing = "onair ops list" if role == OPS else "onair organiser list"
        raise OrganiserError(
            f"no {'ops account' if role == OPS else 'organiser'} named {name.strip()!r} (see `{listing}`)"
        )
    if row.revoked_at is not None:
        raise OrganiserError(f"organiser {row.name!r} was already revoked at {row.revoked_at.isoformat()}")
    row.revoked_at = now
    session.flush()
    return row


def rotate_token(session: Session, name: str) -> tuple[Organiser, str]:
    """A new token for an active organiser: the old one stops at once, their bookings stay. Returns the
    row and the plaintext token, which is not kept anywhere."""
    row = require_organiser(session, name)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row.token_hash = hash_token(token)
    session.flush()
    return row, token


def restore_organiser(session: Session, name: str) -> Organiser:
    """Undo a revoke: the organiser's token (the one they had) works again."""
    row = find_organiser(session, name)
    if row is None:
        raise OrganiserError(f"no organiser named {name.strip()!r} (see `onair organiser list`)")
    if row.revoked_at is None:
        raise OrganiserError(f"organiser {row.name!r} is not revoked: nothing to restore")
    row.revoked_at = None
    session.flush()
    return row

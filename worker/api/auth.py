"""Bearer tokens: each organiser has their own (`onair organiser add NAME`), stored only as a hash.

A missing, malformed, unknown or revoked token is 401 with a `WWW-Authenticate: Bearer` challenge; the
message says which of "missing" or "not accepted", never whether an organiser by some name exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from worker.api.errors import unauthorized
from worker.service.organisers import caller


@dataclass(frozen=True)
class Caller:
    organiser_id: int
    name: str


def bearer_token(header: str | None) -> str:
    if not header or not header.strip():
        raise unauthorized(
            "missing Authorization header: send `Authorization: Bearer <token>`", token_given=False
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be `Bearer <token>`", token_given=False)
    return token.strip()


def caller_of(session: Session, header: str | None) -> Caller:
    organiser = caller(session, bearer_token(header))
    if organiser is None:
        raise unauthorized("token not accepted: it is wrong or was revoked", token_given=True)
    return Caller(organiser.id, organiser.name)

"""The error statuses each endpoint documents in OpenAPI, all with the one error body (ErrorOut)."""

from __future__ import annotations

from typing import Any

from worker.api.errors import BEARER_CHALLENGE
from worker.api.schemas import ErrorOut

_MEANINGS = {
    401: "missing, wrong or revoked token",
    404: "no booking of yours has this id (someone else's and ops broadcasts included)",
    409: "the slot overlaps another, or the booking is cancelled or ended; the error says which",
    413: "the body is over 64 KiB",
    415: "the body is not application/json",
    422: "invalid input; `fields` names each field at fault",
    500: "internal error (logged; the body says no more)",
    503: "the database cannot be reached",
}


def errors(*statuses: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its meaning (`s409="..."` overrides one) and, for
    401, the challenge header. 500 is always there."""
    found: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500}):
        entry: dict[str, Any] = {
            "model": ErrorOut,
            "description": meanings.get(f"s{status}", _MEANINGS[status]),
        }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {
                    "description": f"the challenge, e.g. `{BEARER_CHALLENGE}`",
                    "schema": {"type": "string"},
                }
            }
        found[status] = entry
    return found

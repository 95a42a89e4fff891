"""FastPix webhooks in: verify the signature, read the envelope, store the event once.

The signature (`FastPix-Signature`) is the Base64 HMAC-SHA256 of the raw body, keyed with the
Base64-decoded signing secret; it is checked on the bytes as received, in constant time, before the
body is parsed. Only the envelope's type, id, stream, status and created_at are kept: `data` also
carries the stream's `streamKey` and `srtSecret`, which are read past and never stored or logged.
Nothing here calls FastPix: a request costs one database transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from worker.clock import ensure_utc
from worker.store import webhooks
from worker.store.db import transaction

log = logging.getLogger("onair.webhooks")

SIGNATURE_HEADER = "FastPix-Signature"
LIVE_PREFIX = "video.live_stream."
# Events whose `data.status` is the stream's status (simulcast targets' events are about a target).
STATUS_EVENTS = frozenset(
    LIVE_PREFIX + name
    for name in (
        "created", "preparing", "connected", "recording", "active", "disconnected", "idle", "updated",
        "disabled",
    )
)  # fmt: skip


class BadSecret(ValueError):
    """FASTPIX_WEBHOOK_SECRET is not usable (the message never quotes it)."""


class BadEvent(ValueError):
    """A correctly signed body that is not a FastPix event; the message names what is wrong."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name, self.message = name, message


def signing_key(secret_b64: str) -> bytes:
    try:
        key = base64.b64decode(secret_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadSecret(
            "FASTPIX_WEBHOOK_SECRET is not valid Base64 (copy the Signing Secret as shown)"
        ) from None
    if not key:
        raise BadSecret("FASTPIX_WEBHOOK_SECRET is empty")
    return key


def signature_ok(key: bytes, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("ascii", "replace"))


def parse(body: bytes) -> webhooks.Received:
    """The event's envelope; BadEvent for a body that is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEvent("body", f"is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadEvent("body", f"must be a JSON object, not {type(data).__name__}")
    event_id = _text(data, "id", required=True)
    kind = _text(data, "type", required=True)
    created = _text(data, "created_at", required=True)
    assert event_id is not None and kind is not None and created is not None
    try:
        created_at = ensure_utc(datetime.fromisoformat(created.replace("Z", "+00:00")))
    except ValueError:
        raise BadEvent("created_at", "is not an ISO 8601 instant") from None
    payload = _object(data, "data")
    obj = _object(data, "object")
    stream_id = None
    if kind.startswith(LIVE_PREFIX):
        stream_id = _short(obj.get("id")) or _short(payload.get("streamId"))
    status = _short(payload.get("status")) if kind in STATUS_EVENTS else None
    return webhooks.Received(event_id, kind, stream_id, status, created_at)


def _text(data: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise BadEvent(name, "must be a non-empty string of at most 128 characters")
    return value


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _short(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


@dataclass(frozen=True)
class Stored:
    new: bool
    status_changed: bool
    event: webhooks.Received


def receive(engine: Engine, body: bytes, now: datetime) -> Stored:
    """Store a verified body's event (once) and the status it reports (unless a newer one is known)."""
    event = parse(body)
    with transaction(engine) as session:
        new, changed = webhooks.record(session, event, now)
    if not new:
        log.info("webhook %s (%s) received again; ignored", event.event_id, event.type)
    elif event.status is None:
        log.info("webhook %s (%s) stored; onair does not act on it", event.event_id, event.type)
    else:
        log.info(
            "webhook %s: stream %s %s (%s)%s",
            event.event_id,
            event.stream_id,
            event.status,
            event.type,
            "" if changed else "; a newer status is known",
        )
    return Stored(new, changed, event)

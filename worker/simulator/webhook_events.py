"""FastPix's webhook envelope for live-stream events, and its signature.

Pure: no I/O. The envelope (docs/operations.md, "FastPix webhooks and broadcast health"): `type`
(`video.live_stream.<event>`), `id`, `webhookId`, `object` {`name`: "live", `id`: the stream},
`environment` {`name`, `id`}, `data` (the stream exactly as GET returns it, `streamKey` and
`srtSecret` included), `created_at`, `attempts` (1 on the first delivery, one more per retry).
`FastPix-Signature` is the Base64 HMAC-SHA256 of the raw body, keyed with the Base64-decoded secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from worker.simulator.model import Change, iso_micro

EVENT_PREFIX = "video.live_stream."
SIGNATURE_HEADER = "FastPix-Signature"
# The status a stale event claims, for the events that name one.
STATUS_OF_EVENT = {"idle": "idle", "active": "active", "disabled": "disabled", "preparing": "preparing"}


def decode_secret(secret_b64: str) -> bytes:
    """The HMAC key from the dashboard's Base64 signing secret; ValueError (never quoting it) if unusable."""
    try:
        key = base64.b64decode(secret_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the webhook secret is not valid Base64") from exc
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def check_webhook_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) < 10:
        raise ValueError("the webhook URL must be an http:// or https:// URL")
    return url


def sign(key: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


@dataclass(frozen=True)
class Target:
    """Where events go and what they are signed with."""

    url: str
    key: bytes = field(repr=False)
    webhook_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    environment: dict[str, str] = field(
        default_factory=lambda: {"name": "Simulator", "id": str(uuid.uuid4())}
    )


@dataclass(frozen=True)
class Event:
    """One event; its body differs between attempts only in `attempts`."""

    event_id: str
    event: str  # the suffix: "active", "idle", ...
    stream_id: str
    created_at: datetime
    data: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, stream_id: str, change: Change) -> Event:
        return cls(str(uuid.uuid4()), change.event, stream_id, change.at, change.data)

    @property
    def type(self) -> str:
        return EVENT_PREFIX + self.event

    def body(self, target: Target, attempts: int) -> bytes:
        envelope = {
            "type": self.type,
            "id": self.event_id,
            "webhookId": target.webhook_id,
            "object": {"name": "live", "id": self.stream_id},
            "environment": dict(target.environment),
            "data": self.data,
            "created_at": iso_micro(self.created_at),
            "attempts": attempts,
        }
        return json.dumps(envelope, separators=(",", ":")).encode("utf-8")

    def stale(self, event: str, created_at: datetime) -> Event:
        """A new event claiming an earlier moment, with the status `event` names."""
        data = dict(self.data)
        if event in STATUS_OF_EVENT:
            data["status"] = STATUS_OF_EVENT[event]
        return Event(str(uuid.uuid4()), event, self.stream_id, created_at, data)

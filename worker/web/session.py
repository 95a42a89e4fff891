"""The signed session cookie: which account, the fingerprint of the token it signed in with, and the
session's CSRF token. Signed and time-stamped with itsdangerous; the server keeps no session table."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "onair_session"
_SALT = "onair-web-session"


@dataclass(frozen=True)
class WebSession:
    name: str
    fingerprint: str
    csrf: str

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


class Sessions:
    def __init__(self, key: str, lifetime: timedelta) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt=_SALT)
        self.lifetime = lifetime

    def start(self, name: str, fingerprint: str) -> tuple[WebSession, str]:
        session = WebSession(name, fingerprint, secrets.token_urlsafe(24))
        cookie = self._serializer.dumps({"n": session.name, "f": session.fingerprint, "c": session.csrf})
        return session, cookie

    def read(self, cookie: str | None) -> WebSession | None:
        """The session in a cookie this server signed within its lifetime, else None."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=int(self.lifetime.total_seconds()))
        except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("n", "f", "c")):
            return None
        return WebSession(data["n"], data["f"], data["c"])

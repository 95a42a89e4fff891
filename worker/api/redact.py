"""Feed secrets travel in the URL path (calendar apps send no headers), so every log line that shows a
path shows it redacted: uvicorn's access log and the API's own crash log."""

from __future__ import annotations

import logging
import re

_FEED_PATH = re.compile(r"(/v1/calendar/)[^/?\s]+(\.ics)")


def redact_path(path: str) -> str:
    return _FEED_PATH.sub(r"\1<secret>\2", path)


class RedactFeedSecrets(logging.Filter):
    """For uvicorn's access logger, whose record args are (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactFeedSecrets) for f in access.filters):
        access.addFilter(RedactFeedSecrets())

"""Log lines: JSON when ONAIR_LOG_FORMAT=json, text otherwise; always scrubbed of secrets and tagged
with the action and stream being worked on.

Celery configures its own handlers in the worker and in beat; `install` is called from its
after_setup_logger / after_setup_task_logger signals (worker/tasks.py) and only swaps formatters and
adds a filter, so Celery's choice of stream and level stays. The CLI calls `configure_cli`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from worker.config import fastpix_settings
from worker.service.context import current_action, stream_of

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A FastPix stream key or SRT secret: 32 hex characters, `k`, then the 32-hex stream id.
_STREAM_KEY = re.compile(r"[0-9a-fA-F]{32}k[0-9a-fA-F]{32}")
REDACTED = "[redacted]"


def _secret_values() -> list[str]:
    settings = fastpix_settings()
    values = [s.get_secret_value() for s in (settings.access_token_id, settings.secret_key) if s is not None]
    # A very short value would redact half of every line; real credentials are long.
    return [v for v in values if len(v) >= 6]


def redact(text: str) -> str:
    """The text with FastPix credentials and stream keys / SRT secrets replaced by [redacted]."""
    for secret in _secret_values():
        text = text.replace(secret, REDACTED)
    return _STREAM_KEY.sub(REDACTED, text)


class ContextFilter(logging.Filter):
    """Tags each record with the current action and stream (unless the call site passed them) and
    scrubs its message. A filter on the handler, so records from every library pass through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = current_action()
        if scope is not None:
            if getattr(record, "action_id", None) is None:
                record.action_id = scope.action_id
            if getattr(record, "stream_id", None) is None:
                record.stream_id = scope.stream_id
        action_id = getattr(record, "action_id", None)
        if isinstance(action_id, int) and getattr(record, "stream_id", None) is None:
            record.stream_id = stream_of(action_id)
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message, and action_id,
    stream_id, task (Celery task name) and exception when known."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("action_id", "stream_id", "task_name", "task_id"):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


class RedactingFormatter(logging.Formatter):
    """Keeps another formatter's layout (Celery's colours, its task prefix) and scrubs the result,
    tracebacks included."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def install(logger: logging.Logger, log_format: str) -> None:
    """Give every handler of `logger` onair's filter, and the JSON formatter when asked for."""
    for handler in logger.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
        elif not isinstance(handler.formatter, RedactingFormatter | JsonFormatter):
            handler.setFormatter(RedactingFormatter(handler.formatter))


def configure_cli(log_format: str, level: int = logging.WARNING) -> None:
    """The CLI's logging: warnings and errors on stderr, as JSON lines when asked for."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
        root.setLevel(level)
    install(root, log_format)


def configure_cli_logging() -> None:
    """The `onair` command's logging, per ONAIR_LOG_FORMAT. A bad setting is left for the command
    that needs it to report; logging falls back to text."""
    from pydantic import ValidationError

    from worker.config import onair_settings

    try:
        log_format = onair_settings().log_format
    except ValidationError:
        log_format = "text"
    configure_cli(log_format)

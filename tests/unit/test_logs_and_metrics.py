"""Log lines (JSON fields, the action in scope, secrets scrubbed) and metric labels."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from worker.config import fastpix_settings
from worker.domain.attempts import Attempt
from worker.domain.types import ActionState
from worker.service import logs, metrics
from worker.service.context import action_scope
from worker.service.metrics import endpoint_label

STREAM = "4f1c" + "0" * 28
KEY = "a1" * 16 + "k" + STREAM


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("FASTPIX_SECRET_KEY", "s3cr3t-value-xyz")
    fastpix_settings.cache_clear()
    yield "s3cr3t-value-xyz"
    fastpix_settings.cache_clear()


def capture(log_format: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    logger = logging.getLogger(f"onair.test.{log_format}")
    logger.handlers = [logging.StreamHandler(out)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logs.install(logger, log_format)
    return logger, out


def test_json_lines_carry_the_fields_and_the_action_in_scope(secret: str) -> None:
    logger, out = capture("json")
    with action_scope(12, STREAM, "enable", datetime(2026, 11, 27, tzinfo=UTC), 1):
        logger.info("calling FastPix for %s", "enable")
    logger.warning("no action here")

    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "calling FastPix for enable"
    assert (first["level"], first["logger"]) == ("INFO", "onair.test.json")
    assert (first["action_id"], first["stream_id"]) == (12, STREAM)
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    assert "action_id" not in second and second["level"] == "WARNING"


def test_a_line_naming_a_recent_action_gets_its_stream(secret: str) -> None:
    logger, out = capture("json")
    with action_scope(77, STREAM, "disable", datetime(2026, 11, 27, tzinfo=UTC), 1):
        pass
    logger.info("action #77: disabled", extra={"action_id": 77})
    assert json.loads(out.getvalue())["stream_id"] == STREAM


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_secrets_and_stream_keys_never_reach_a_line(secret: str, log_format: str) -> None:
    logger, out = capture(log_format)
    logger.error("answer echoed %s and streamKey=%s", secret, KEY)
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        logger.exception("failed")
    text = out.getvalue()
    assert secret not in text and KEY not in text
    assert text.count("[redacted]") >= 2


def test_endpoint_labels_group_calls_by_endpoint_not_stream() -> None:
    assert endpoint_label(f"/live/streams/{STREAM}/live-enable") == "/live/streams/{streamId}/live-enable"
    assert endpoint_label(f"/live/streams/{STREAM}") == "/live/streams/{streamId}"
    assert endpoint_label("/live/streams?limit=1") == "/live/streams"


def _sample(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_retries_are_counted_from_the_attempts_kind_not_its_wording() -> None:
    when = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    retries = _sample("onair_action_retries_total", kind="restore")
    failed = _sample("onair_actions_total", kind="restore", outcome="failed")

    metrics.attempt("restore", Attempt.retry(1, when, "FastPix 503"))
    # A final outcome whose wording happens to start like a retry is still a final outcome.
    metrics.attempt("restore", Attempt.done(2, ActionState.FAILED, "retry at noon was refused"))
    metrics.attempt("restore", Attempt.stale(3))

    assert _sample("onair_action_retries_total", kind="restore") == retries + 1
    assert _sample("onair_actions_total", kind="restore", outcome="failed") == failed + 1


def test_lateness_is_signed_so_an_early_act_shows() -> None:
    early = _sample("onair_action_lateness_seconds_bucket", kind="finish", le="-0.001")
    late = _sample("onair_action_lateness_seconds_bucket", kind="finish", le="0.01")

    metrics.act_sent("finish", -0.004, first=True)
    metrics.act_sent("finish", 0.002, first=True)
    metrics.act_sent("finish", -0.5, first=False)  # a retry's lateness is its back-off: not counted

    assert _sample("onair_action_lateness_seconds_bucket", kind="finish", le="-0.001") == early + 1
    assert _sample("onair_action_lateness_seconds_bucket", kind="finish", le="0.01") == late + 2

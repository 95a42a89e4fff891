"""Error envelopes -> exceptions, Retry-After parsing, and the retry classification."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.fastpix.errors import (
    ApiError,
    CallTimeout,
    Classification,
    ConnectionDropped,
    FieldError,
    InvalidRequest,
    NetworkError,
    RateLimited,
    ServerError,
    UnexpectedResponse,
    classify,
    error_for_status,
    parse_retry_after,
    retry_after,
)

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
STREAM_KEY = "ba016466451c770511d5992ec54bb271k91b8484250e5a1ed03fd4e100b807082"


def envelope(code: int, message: str, description: str = "", **extra: object) -> dict[str, object]:
    return {
        "success": False,
        "error": {"code": code, "message": message, "description": description, **extra},
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 2.5 ", 2.5),
        ("Fri, 27 Nov 2026 12:00:30 GMT", 30.0),
        ("Fri, 27 Nov 2026 11:59:00 GMT", 0.0),  # a date in the past means: now
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_429_carries_retry_after_and_is_retryable() -> None:
    exc = error_for_status("PUT", "/live/streams/x/live-enable", 429, None, "7", NOW)
    assert isinstance(exc, RateLimited)
    assert retry_after(exc) == 7.0
    assert classify(exc) is Classification.RETRYABLE
    assert "429" in str(exc) and "retry after 7s" in str(exc)


def test_429_with_http_date_is_relative_to_the_injected_now() -> None:
    exc = error_for_status("GET", "/live/streams", 429, None, "Fri, 27 Nov 2026 12:01:00 GMT", NOW)
    assert retry_after(exc) == 60.0


@pytest.mark.parametrize("status", [500, 502, 503, 524])
def test_server_errors_are_retryable(status: int) -> None:
    exc = error_for_status("PUT", "/live/streams/x/finish", status, "<html>bad gateway</html>", None, NOW)
    assert isinstance(exc, ServerError)
    assert exc.status == status
    assert classify(exc) is Classification.RETRYABLE
    assert f"FastPix {status} on PUT /live/streams/x/finish" in str(exc)


def test_408_is_retryable_but_other_client_errors_are_permanent() -> None:
    assert classify(error_for_status("GET", "/p", 408, None, None, NOW)) is Classification.RETRYABLE
    for status in (400, 401, 403, 404, 409, 422):
        exc = error_for_status("GET", "/p", status, envelope(status, "nope"), None, NOW)
        assert isinstance(exc, ApiError)
        assert classify(exc) is Classification.PERMANENT, status


@pytest.mark.parametrize(
    "message",
    ["stream is already enabled", "stream already disabled", "Stream Already  Enabled.", "ALREADY DISABLED"],
)
def test_already_in_state_answers_are_recognised(message: str) -> None:
    exc = error_for_status("PUT", "/live/streams/x/live-enable", 400, envelope(400, message), None, NOW)
    assert classify(exc) is Classification.ALREADY_IN_STATE


def test_cannot_be_completed_is_permanent_and_keeps_the_api_words() -> None:
    body = envelope(400, "stream cannot be completed", "Only active streams can be marked as completed.")
    exc = error_for_status("PUT", "/live/streams/abc/finish", 400, body, None, NOW)
    assert classify(exc) is Classification.PERMANENT
    assert str(exc) == (
        "FastPix 400 on PUT /live/streams/abc/finish: stream cannot be completed "
        "(Only active streams can be marked as completed.)"
    )


def test_404_message_names_the_call_and_the_reason() -> None:
    exc = error_for_status("GET", "/live/streams/abc", 404, envelope(404, "stream not found"), None, NOW)
    assert str(exc) == "FastPix 404 on GET /live/streams/abc: stream not found"
    assert isinstance(exc, ApiError) and exc.code == 404 and exc.message == "stream not found"


def test_422_lists_the_fields() -> None:
    body = envelope(
        422,
        "validation failed",
        fields=[{"field": "reconnectWindow", "message": "must be at most 1800"}, "junk"],
    )
    exc = error_for_status("PATCH", "/live/streams/abc", 422, body, None, NOW)
    assert isinstance(exc, ApiError)
    assert exc.fields == [FieldError("reconnectWindow", "must be at most 1800")]
    assert "reconnectWindow: must be at most 1800" in str(exc)


def test_401_without_a_body_still_explains_itself() -> None:
    exc = error_for_status("GET", "/live/streams", 401, None, None, NOW)
    assert "FASTPIX_ACCESS_TOKEN_ID" in str(exc)


def test_stream_keys_never_reach_messages() -> None:
    body = envelope(400, f"bad key {STREAM_KEY}", f"key was {STREAM_KEY}")
    exc = error_for_status("POST", "/live/streams", 400, body, None, NOW)
    assert STREAM_KEY not in str(exc)
    assert STREAM_KEY not in exc.description
    assert "[redacted]" in str(exc)


def test_transport_failures_are_retryable() -> None:
    for exc_type in (CallTimeout, NetworkError, ConnectionDropped):
        assert classify(exc_type("GET", "/live/streams", "boom")) is Classification.RETRYABLE
    assert classify(UnexpectedResponse("GET", "/p", 200, "garbled")) is Classification.RETRYABLE


def test_local_refusals_and_unknown_exceptions_are_permanent() -> None:
    assert classify(InvalidRequest("reconnect window must be 60..1800")) is Classification.PERMANENT
    assert classify(KeyError("bug")) is Classification.PERMANENT
    assert retry_after(KeyError("bug")) is None

"""A control character (ESC, NUL, CR, LF, C1 ...) in a title, a name or a label is refused by every
command that stores one, with one line naming the field and the character, and nothing is written:
no terminal escape can reach `onair book list`, and no NUL reaches PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.cli_support import (
    STREAM,
    Onair,
    assert_one_line_error,
    migrated_on_backend,
    upcoming_hour,
)
from tests.integration.store_support import BACKENDS

BAD = [("\x1b[2J", "U+001B"), ("a\x00b", "U+0000"), ("two\r\nlines", "U+000D"), ("c1\x85", "U+0085")]


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


def _organisers(onair: Onair) -> list[tuple[object, ...]]:
    with onair.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM organisers ORDER BY id"))]


@pytest.mark.parametrize(("value", "code"), BAD)
def test_titles_names_and_labels_with_control_characters_are_refused(
    onair: Onair, value: str, code: str
) -> None:
    onair.add_stream()
    onair.ok("organiser", "add", "Alice")
    before, people = onair.snapshot(), _organisers(onair)
    start, end = upcoming_hour(3).isoformat(), upcoming_hour(4).isoformat()
    slot = ["--stream", STREAM, "--start", start, "--end", end]
    cases = [
        (["broadcast", "add", *slot, "--title", value], "title"),
        (["book", "add", *slot, "--organiser", "Alice", "--title", value], "title"),
        (["broadcast", "add", "--stream", STREAM, "--cron", "0 20 * * *", "--duration", "1h", "--tz", "UTC",
          "--title", value], "title"),
        (["offhours", "add", "--stream", STREAM, "--cron", "0 2 * * *", "--duration", "1h", "--tz", "UTC",
          "--label", value], "label"),
        (["organiser", "add", f"Bob {value}"], "organiser name"),
    ]  # fmt: skip
    for args, field in cases:
        assert_one_line_error(onair(*args), f"{field} contains a control character ({code} at position")
    assert onair.snapshot() == before
    assert _organisers(onair) == people


def test_a_plain_title_with_accents_and_emoji_is_kept_as_typed(onair: Onair) -> None:
    onair.add_stream()
    title = "Café concert 🎷 - late set"
    added = onair.json(
        "broadcast", "add", "--stream", STREAM, "--start", upcoming_hour(3).isoformat(),
        "--end", upcoming_hour(4).isoformat(), "--title", title,
    )  # fmt: skip
    assert added["title"] == title

"""The pure rules behind "one bad row never stops planning": checks that never raise, and a planner
that turns whatever one row raises into that row's reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from worker.domain.planner import plan
from worker.domain.recurrence import validate_cron, validate_timezone
from worker.domain.specs import BroadcastSpec, OffHoursSpec, read_broadcast, read_off_hours
from worker.domain.text import control_character_problem
from worker.domain.types import Source

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CONTROL = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))]


@pytest.mark.parametrize("char", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
def test_every_c0_and_c1_control_character_is_refused(char: str) -> None:
    assert control_character_problem(f"ab{char}c", "title") == (
        f"title contains a control character (U+{ord(char):04X} at position 3)"
    )


@pytest.mark.parametrize(
    "text", ["Late set", "Caf\u00e9 \u2013 Nachtsendung \U0001f3b7", "", "a\u2028b", None]
)
def test_text_without_control_characters_passes(text: str | None) -> None:
    assert control_character_problem(text) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Europe", "unknown time zone 'Europe'"),
        ("America", "unknown time zone 'America'"),
        ("Etc", "unknown time zone 'Etc'"),
        ("Europe/Ber\x00lin", "unknown time zone 'Europe/Ber\\x00lin'"),
        ("../../etc/passwd", "unknown time zone '../../etc/passwd'"),
        ("E" * 300, "longer than 64 characters"),
        (42, "time zone must be text, got int"),
        ("", "time zone is empty"),
    ],
)
def test_a_zone_check_never_raises(name: object, reason: str) -> None:
    found = validate_timezone(name)
    assert found is not None and reason in found


@pytest.mark.parametrize("expr", [b"0 22 * * *", 7, "0 22 * * *\x00", "9" * 5000 + " * * * *"])
def test_a_cron_check_never_raises(expr: object) -> None:
    assert validate_cron(expr) is not None


def _broadcast_row(**values: object) -> SimpleNamespace:
    row: dict[str, object] = {
        "id": 1,
        "stream_id": "s",
        "starts_at": NOW + timedelta(hours=1),
        "ends_at": NOW + timedelta(hours=2),
        "lead_seconds": 300,
        "title": None,
        "metadata_json": None,
        "reconnect_window": None,
        "created_at": None,
        "organiser_id": None,
        "organiser_name": None,
        "cancelled_at": None,
    }
    row.update(values)
    return SimpleNamespace(**row)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"lead_seconds": 1.5}, "lead_seconds 1.5 is not a whole number of seconds"),
        ({"lead_seconds": "300"}, "lead_seconds '300' is not a number of seconds"),
        ({"lead_seconds": True}, "lead_seconds True is not a number of seconds"),
        ({"reconnect_window": "120"}, "reconnect_window '120' is not a number of seconds"),
        ({"lead_seconds": 2**63 - 1}, "lead_seconds 9223372036854775807 is out of range"),
        ({"organiser_id": 99}, "organiser #99 does not exist"),
        ({"stream_id": b"s"}, "stream_id must be text, got bytes"),
        ({"metadata_json": b"{}"}, "metadata must be text, got bytes"),
        ({"starts_at": "tomorrow"}, "starts_at 'tomorrow' is not a timestamp"),
    ],
)
def test_a_broadcast_row_of_the_wrong_types_is_a_reason_not_an_error(
    values: dict[str, object], reason: str
) -> None:
    found = read_broadcast(_broadcast_row(**values))  # type: ignore[arg-type]
    assert isinstance(found, str) and reason in found


def test_an_off_hours_row_of_the_wrong_types_is_a_reason_not_an_error() -> None:
    row = SimpleNamespace(
        id=1,
        stream_id=None,
        cron="0 22 * * *",
        duration_seconds="abc",
        timezone="UTC",
        label=None,
        created_at=None,
    )
    assert read_off_hours(row) == "duration_seconds 'abc' is not a number of seconds"  # type: ignore[arg-type]


def test_whatever_one_row_raises_is_its_reason_and_the_others_plan() -> None:
    good = BroadcastSpec(1, "s", NOW + timedelta(hours=1), NOW + timedelta(hours=2), timedelta(minutes=5))
    # A spec the checks never foresaw: an instant that is not a datetime makes them raise.
    broken = BroadcastSpec(2, "s", "noon", NOW, timedelta(0))  # type: ignore[arg-type]
    deep = BroadcastSpec(
        3, "s", NOW + timedelta(hours=3), NOW + timedelta(hours=4), timedelta(0), metadata="[" * 100_000
    )
    folder = OffHoursSpec(1, None, "0 22 * * *", timedelta(hours=1), "Europe")
    result = plan([good, broken, deep], [folder], {"s"}, NOW, timedelta(hours=24))

    assert {a.source_id for a in result.actions} == {1}
    assert result.invalid[(Source.BROADCAST, 2)].startswith("cannot be planned: ")
    assert "metadata is nested too deeply" in result.invalid[(Source.BROADCAST, 3)]
    assert result.invalid[(Source.OFF_HOURS, 1)] == "unknown time zone 'Europe'"


def test_control_characters_are_exactly_unicode_category_cc() -> None:
    """The scan for control characters finds exactly what unicodedata calls Cc, and names the first."""
    import unicodedata

    from worker.domain.text import control_character_problem

    for code in range(0x110000):
        char = chr(code)
        expected = unicodedata.category(char) == "Cc"
        assert (control_character_problem(f"ok{char}") is not None) == expected, hex(code)
    assert control_character_problem("a\tb\x1b") == "text contains a control character (U+0009 at position 2)"

"""The control-character rule: every C0 character, DEL and every C1 character is named; the
printable characters around those ranges (space, tilde, NBSP, accents, emoji) are not."""

from __future__ import annotations

import pytest

from worker.domain.text import control_character_problem


@pytest.mark.parametrize("code", [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)])
def test_each_c0_del_and_c1_character_is_named(code: int) -> None:
    assert control_character_problem(f"Late{chr(code)}set") == (
        f"contains a control character (U+{code:04X})"
    )


@pytest.mark.parametrize("text", ["", "Late set", "~", "\u00a0Caf\u00e9", "Jazz \U0001f3b7", "\u202f"])
def test_printable_text_passes(text: str) -> None:
    assert control_character_problem(text) is None


def test_the_first_control_character_is_the_one_named() -> None:
    assert control_character_problem("a\x1b[2J\x00") == "contains a control character (U+001B)"

"""Text that people type and others read back in a terminal or a calendar: titles, names, labels.

A control character (C0: U+0000-U+001F, DEL U+007F; C1: U+0080-U+009F) has no place in one. ESC
starts a terminal escape sequence, so a title could rewrite what `onair book list` shows; CR and LF
break a line-based format; NUL cannot be stored in PostgreSQL text at all.
"""

from __future__ import annotations


def is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F


def control_character_problem(value: str) -> str | None:
    """None when `value` holds no control character, else the reason naming the first one."""
    for ch in value:
        if is_control(ch):
            return f"contains a control character (U+{ord(ch):04X})"
    return None

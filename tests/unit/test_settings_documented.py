"""Every setting onair reads is in docs/operations.md's table and in .env.example, with its default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from worker.config import FastPixSettings, OnairSettings

ROOT = Path(__file__).resolve().parents[2]


def _settings() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    settings_classes: tuple[type[BaseSettings], ...] = (FastPixSettings, OnairSettings)
    for cls in settings_classes:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            found.append(((prefix + name).upper(), field.default))
    return found


def _table_rows() -> dict[str, str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3:
            for name in re.findall(r"`((?:ONAIR|FASTPIX)_[A-Z_]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


@pytest.mark.parametrize(("variable", "default"), _settings(), ids=[v for v, _ in _settings()])
def test_setting_is_in_the_operations_table_with_its_default(variable: str, default: object) -> None:
    rows = _table_rows()
    assert variable in rows, f"{variable} is missing from docs/operations.md#settings"
    if isinstance(default, int | float) and not isinstance(default, bool):
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        assert shown in rows[variable], f"{variable}: the table says {rows[variable]!r}, the code {default!r}"


@pytest.mark.parametrize(("variable", "default"), _settings(), ids=[v for v, _ in _settings()])
def test_setting_is_in_env_example(variable: str, default: object) -> None:
    example = (ROOT / ".env.example").read_text()
    assert re.search(rf"^#? ?{variable}=", example, re.MULTILINE), f"{variable} is missing from .env.example"

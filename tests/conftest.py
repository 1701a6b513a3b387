"""Shared test setup: isolate every test from the developer's environment and ``.env``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.config import Settings, get_settings
from tests import services_probe


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No DESKPILOT_* variable or ``.env`` file leaks into a test; each runs in its own folder."""
    for name in list(os.environ):
        if name.startswith("DESKPILOT_") and not name.startswith("DESKPILOT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Embedded-profile settings whose files all live under ``tmp_path``."""
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": tmp_path / "var",
        "database": {"url": f"sqlite:///{tmp_path / 'var' / 'deskpilot.db'}"},
        "chroma": {"path": tmp_path / "var" / "chroma"},
        "log_json": True,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(_env_file=None, **values)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say up front which real services the integration tests will use."""
    return [services_probe.describe()]

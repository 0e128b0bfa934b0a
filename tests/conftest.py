"""Shared fixtures: every test loads into its own workspace, never the checkout's .headroom."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headroom.config import settings


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HEADROOM_WORKSPACE in the test's temporary folder (settings are read once, so reset)."""
    monkeypatch.setenv("HEADROOM_WORKSPACE", str(tmp_path / "workspace"))
    settings.cache_clear()
    yield tmp_path / "workspace"
    settings.cache_clear()

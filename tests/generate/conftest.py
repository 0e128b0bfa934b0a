from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headroom.config import settings


@pytest.fixture(autouse=True)
def _workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test loads into its own workspace, never the repository's .headroom."""
    monkeypatch.setenv("HEADROOM_WORKSPACE", str(tmp_path / "workspace"))
    settings.cache_clear()
    yield
    settings.cache_clear()

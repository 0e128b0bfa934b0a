"""A generated TeamFlow history that the backtest tests share (it takes seconds to make)."""

from __future__ import annotations

from pathlib import Path

import pytest

from headroom.generate import Options, generate


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 accounts, 365 days to 2026-09-30, as Parquet."""
    folder = tmp_path_factory.mktemp("backtest") / "tf"
    generate(folder, Options(accounts=2000, days=365, seed=11, parquet=True))
    return folder

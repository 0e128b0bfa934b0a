"""--engine spark: the same playbook gives the same decisions and plays as DuckDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from headroom.generate import Options, generate
from headroom.playbook.model import load_playbook
from headroom.signals.registry import types
from headroom.sources import load
from headroom.sources.engines import on_engine
from headroom.triggers.evaluate import History, evaluate
from tests import parts

PLAYBOOK = Path(__file__).resolve().parents[2] / "examples" / "teamflow" / "playbook.yaml"


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_teamflow_decisions_are_identical_on_spark(tmp_path: Path) -> None:
    parts.spark()
    generate(tmp_path / "tf", Options(accounts=300, days=120, seed=4))
    source = load(tmp_path / "tf", today=dt.date(2026, 10, 1))
    book = load_playbook(PLAYBOOK, types())
    as_of = dt.date(2026, 9, 30)
    try:
        on_duckdb = evaluate(source, book, as_of, History())
        on_spark = evaluate(on_engine(source, "spark"), book, as_of, History())
    finally:
        source.close()
    assert len([d for d in on_duckdb if d.play]) > 10
    assert on_spark == on_duckdb

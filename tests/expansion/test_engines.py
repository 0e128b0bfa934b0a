"""Expansions, time to expansion and the gap are the same on DuckDB and on Spark."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headroom.metrics.expansion import expansion_arr, expansion_events
from headroom.metrics.gap import revenue_in_gap
from headroom.metrics.time_to_expansion import time_to_expansion
from headroom.sources import Source, load
from headroom.sources.engines import on_engine
from tests import parts

THROUGH = dt.date(2026, 9, 30)


def figures(source: Source) -> tuple[Any, ...]:
    events = expansion_events(source, THROUGH)
    return (
        events.order_by(["account_id", "date"]).to_pyarrow().to_pylist(),
        expansion_arr(events, "cohort").to_pyarrow().to_pylist(),
        revenue_in_gap(events, 3, THROUGH).to_dict(),
        [f.to_dict() for f in time_to_expansion(source, THROUGH, "plan")],
    )


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_the_same_figures_on_duckdb_and_spark(teamflow: Callable[..., Path]) -> None:
    parts.spark()
    source = load(teamflow(accounts=300, days=400, seed=4), today=THROUGH + dt.timedelta(days=1))
    try:
        spark = on_engine(source, "spark")
        on_duckdb, on_spark = figures(source), figures(spark)
    finally:
        source.close()
    assert len(on_duckdb[0]) > 20
    assert on_duckdb == on_spark

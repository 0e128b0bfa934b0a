"""The same loaded source computed on DuckDB and on a local Spark session gives the same facts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from headroom.errors import UsageError
from headroom.facts import account_snapshot, customers_by_plan_and_segment
from headroom.sources import load
from headroom.sources.engines import engine_names, get_engine, on_engine
from tests import parts

AS_OF = dt.date(2026, 9, 30)


def test_unknown_engine_names_the_known_ones() -> None:
    with pytest.raises(UsageError) as err:
        get_engine("snowflake")
    assert str(err.value) == (
        "--engine 'snowflake' is not an engine headroom knows; use one of duckdb, spark"
    )
    assert engine_names() == ["duckdb", "spark"]


def test_duckdb_engine_is_the_loaded_source_itself(
    tmp_path: Path, teamflow: Callable[..., Path]
) -> None:
    source = load(teamflow(accounts=30, days=90, seed=2), today=AS_OF, workspace=tmp_path / "ws")
    try:
        assert on_engine(source, "duckdb") is source
    finally:
        source.close()


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_snapshot_is_identical_on_duckdb_and_spark(
    tmp_path: Path, teamflow: Callable[..., Path]
) -> None:
    parts.spark()
    folder = teamflow(accounts=300, days=200, seed=4)
    source = load(folder, today=AS_OF + dt.timedelta(days=1), workspace=tmp_path / "ws")
    try:
        spark = on_engine(source, "spark")
        per_account = [
            account_snapshot(s, AS_OF).order_by("account_id").to_pyarrow().to_pylist()
            for s in (source, spark)
        ]
        grouped = [
            customers_by_plan_and_segment(account_snapshot(s, AS_OF)).to_pyarrow().to_pylist()
            for s in (source, spark)
        ]
        spark.close()  # a shared session: closing the source must leave it running
        assert spark.table("accounts").count().execute() == 300
    finally:
        source.close()
    assert per_account[0] == per_account[1]
    assert grouped[0] == grouped[1]
    assert len(per_account[0]) == 300

"""MRR movements and retention against plain-Python references, and the bridge identity."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.metrics.nrr import retention, retention_series
from headroom.metrics.revenue import add_months, mrr_bridge, mrr_movements
from headroom.sources import load
from headroom.sources.engines import on_engine
from tests import parts
from tests.revenue.reference import Row, reference_movements, reference_retention

BASE = dt.date(2024, 1, 1)
THROUGH = dt.date(2025, 6, 1)
SCHEMA = {
    "subscription_id": "string",
    "account_id": "string",
    "start_date": "date",
    "end_date": "date",
    "mrr": "decimal(18, 4)",
}


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 500),  # start, days after BASE
        st.one_of(st.none(), st.integers(1, 300)),  # length in days; None = still running
        st.sampled_from([Decimal(0), Decimal(10), Decimal("25.5"), Decimal(100)]),
    ),
    min_size=1,
    max_size=8,
).map(
    lambda raw: [
        (
            account,
            BASE + dt.timedelta(days=start),
            None if length is None else BASE + dt.timedelta(days=start + length),
            mrr,
        )
        for account, start, length, mrr in raw
    ]
)


def _table(rows: list[Row]) -> Any:
    return ibis.memtable(
        {
            "subscription_id": [f"s{i}" for i in range(len(rows))],
            "account_id": [r[0] for r in rows],
            "start_date": [r[1] for r in rows],
            "end_date": [r[2] for r in rows],
            "mrr": [r[3] for r in rows],
        },
        schema=SCHEMA,
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows_strategy)
def test_movements_match_reference(rows: list[Row]) -> None:
    got = mrr_movements(_table(rows), THROUGH).order_by(["account_id", "month"])
    ours = [
        (r["account_id"], r["month"], r["mrr"], r["previous_mrr"], r["mrr_change"], r["movement"])
        for r in got.to_pyarrow().to_pylist()
    ]
    assert ours == reference_movements(rows, THROUGH)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows_strategy, st.integers(0, 16), st.integers(1, 12))
def test_nrr_and_grr_match_reference(rows: list[Row], offset: int, length: int) -> None:
    start = add_months(BASE, offset)
    end = add_months(start, length)
    whole = retention(_table(rows), start, end)[0]
    starting, ending, retained, count = reference_retention(rows, start, end)
    assert (whole.starting_mrr, whole.ending_mrr, whole.retained_mrr) == (
        starting,
        ending,
        retained,
    )
    assert whole.accounts == count
    if starting:
        assert whole.nrr == pytest.approx(float(ending / starting))
        assert whole.grr == pytest.approx(float(retained / starting))
    else:
        assert whole.nrr is None


def test_series_agrees_with_single_windows() -> None:
    rows: list[Row] = [
        ("a", dt.date(2024, 1, 1), None, Decimal(100)),
        ("a", dt.date(2024, 3, 1), None, Decimal(50)),
        ("b", dt.date(2024, 1, 15), dt.date(2024, 5, 1), Decimal(40)),
        ("c", dt.date(2024, 2, 1), None, Decimal(10)),
    ]
    table = _table(rows)
    series = retention_series(table, dt.date(2024, 3, 1), dt.date(2024, 6, 1))
    got = {r["month"]: (r["nrr"], r["grr"]) for r in series.to_pyarrow().to_pylist()}
    for month, (nrr, grr) in got.items():
        single = retention(table, add_months(month, -1), month)[0]
        assert nrr == pytest.approx(single.nrr)
        assert grr == pytest.approx(single.grr)
    # April: a 150 -> 150, b 40 -> 40, c 10 -> 10; May: b churns.
    assert got[dt.date(2024, 5, 1)] == (pytest.approx(160 / 200), pytest.approx(160 / 200))
    assert got[dt.date(2024, 3, 1)] == (pytest.approx(200 / 150), pytest.approx(1.0))


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, teamflow: Callable[..., Path]) -> Any:
    """Five hundred days of TeamFlow, loaded."""
    folder = teamflow(accounts=400, days=500, seed=21)
    source = load(folder, today=dt.date(2026, 10, 1), workspace=tmp_path_factory.mktemp("ws"))
    yield source
    source.close()


def test_bridge_holds_every_month(history: Any) -> None:
    movements = mrr_movements(history.table("subscriptions"), dt.date(2026, 9, 30))
    bridge = mrr_bridge(movements).to_pyarrow().to_pylist()
    assert len(bridge) > 12
    previous_end = None
    kinds: dict[str, Decimal] = defaultdict(Decimal)
    for month in bridge:
        assert (
            month["starting_mrr"]
            + month["new"]
            + month["expansion"]
            + month["reactivation"]
            - month["contraction"]
            - month["churn"]
            == month["ending_mrr"]
        ), month["month"]
        if previous_end is not None:
            assert month["starting_mrr"] == previous_end
        previous_end = month["ending_mrr"]
        for k in ("new", "expansion", "reactivation", "contraction", "churn"):
            kinds[k] += month[k]
    # The generated history has every kind of movement.
    assert all(v > 0 for v in kinds.values()), kinds


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_same_movements_on_spark(history: Any) -> None:
    parts.spark()

    spark = on_engine(history, "spark")
    through = dt.date(2026, 9, 30)
    results = [
        mrr_movements(s.table("subscriptions"), through)
        .order_by(["account_id", "month"])
        .to_pyarrow()
        .to_pylist()
        for s in (history, spark)
    ]
    assert len(results[0]) > 1000
    assert results[0] == results[1]


def test_daily_mrr_on_a_day_sums_overlapping_rows(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from headroom.cli.main import app

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,end_date,mrr\n"
        "s1,a,2024-01-01,2024-03-15,100\n"
        "s2,a,2024-03-01,,40\n"  # overlaps s1 from March 1st
        "s3,b,2024-03-10,2024-03-11,70\n"
    )
    result = CliRunner().invoke(
        app, ["mrr", str(tmp_path / "src"), "--on", "2024-03-10", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    got = {r["account_id"]: r["mrr"] for r in json.loads(result.stdout)}
    assert got == {"a": 140, "b": 70}

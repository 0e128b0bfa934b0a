"""Growth and projection signals against a plain reference (scipy's least squares, by hand)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.signals.crossings import CYCLE_DAYS
from headroom.signals.registry import Context, signal_table, types
from headroom.signals.trend import RECENCY_DAYS
from headroom.sources import load
from tests.signals.helpers import starter_account

AS_OF = dt.date(2026, 6, 30)


def source(folder: Path, series: dict[str, Callable[[int], float | None]], days: int) -> Any:
    """One Starter account; ``series[metric](i)`` is the value ``i`` days before AS_OF."""
    starter_account(folder)
    lines = ["account_id,date,metric,value\n"]
    for i in range(-5, days):  # five days after AS_OF too: they must change nothing
        for metric, f in series.items():
            value = f(i) if i >= 0 else 1e6
            if value is not None:
                lines.append(f"a1,{AS_OF - dt.timedelta(days=i)},{metric},{value}\n")
    (folder / "usage_daily.csv").write_text("".join(lines))
    return load(folder, today=dt.date(2026, 12, 31))


def signals(src: Any, names: set[str], day: dt.date = AS_OF) -> dict[str, Any]:
    try:
        with Context(src, day) as ctx:
            (row,) = signal_table(ctx, names).to_pyarrow().to_pylist()
    finally:
        src.close()
    return row  # type: ignore[no-any-return]


# -- growth -------------------------------------------------------------------------------------


def test_growth_is_the_smallest_monthly_change_of_the_last_n_months(tmp_path: Path) -> None:
    # Months (30-day blocks ending on AS_OF): 150, 125 (+20%), 115 (+8.7%), 100 (+15%).
    level = [150.0, 125.0, 115.0, 100.0]
    src = source(tmp_path / "s", {"automation_runs": lambda i: level[min(i // 30, 3)]}, 120)
    got = signals(src, {"growth_automation_runs_1m", "growth_automation_runs_3m"})
    assert got["growth_automation_runs_1m"] == pytest.approx(150 / 125 - 1)
    assert got["growth_automation_runs_3m"] == pytest.approx(125 / 115 - 1)


def test_growth_needs_twenty_days_in_every_window(tmp_path: Path) -> None:
    # 100 days of data: the 4th month back (days 90-119) holds only 10 of them.
    src = source(tmp_path / "s", {"automation_runs": lambda i: 100.0}, 100)
    got = signals(src, {"growth_automation_runs_2m", "growth_automation_runs_3m"})
    assert got["growth_automation_runs_2m"] == 0.0
    assert got["growth_automation_runs_3m"] is None


def test_growth_months_are_one_to_twelve() -> None:
    catalogue = types()
    assert "growth_automation_runs_12m" in catalogue
    assert "growth_automation_runs_13m" not in catalogue
    assert "growth_automation_runs_0m" not in catalogue


# -- projection ---------------------------------------------------------------------------------

NAMES = {
    "days_to_limit_storage_gb",
    "days_to_limit_storage_gb_low",
    "days_to_limit_storage_gb_high",
    "projection_storage_gb",
}


def reference(values: list[float], threshold: float) -> float:
    """Days to ``threshold`` of numpy's weighted least-squares line (each day weighted by
    exp(-age / RECENCY_DAYS)): values[0] is today, one a day going back."""
    xs = [-i for i in range(len(values))]
    # polyfit weighs residuals, not their squares: the square roots of the weights
    w = [math.exp(x / RECENCY_DAYS / 2) for x in xs]
    slope, intercept = numpy.polyfit(xs, values, 1, w=w)
    return float((threshold - intercept) / slope)


def test_a_straight_line_reaches_the_gauge_limit_on_the_day_it_says(tmp_path: Path) -> None:
    # Storage grows 0.1 GB a day and is 15.9 GB today: 20 GB in 41 days, no doubt about it.
    src = source(tmp_path / "s", {"storage_gb": lambda i: round(15.9 - 0.1 * i, 1)}, 60)
    got = signals(src, NAMES)
    assert got["projection_storage_gb"] == "projected"
    assert got["days_to_limit_storage_gb"] == pytest.approx(41.0)
    # one account has no past forecasts to measure an interval on: a date, and no interval
    assert got["days_to_limit_storage_gb_low"] is None
    assert got["days_to_limit_storage_gb_high"] is None


def test_a_noisy_trend_matches_scipy(tmp_path: Path) -> None:
    noise = [0.4, -0.3, 0.1, -0.5, 0.2, 0.0, 0.3, -0.2, -0.1, 0.5]
    values = [12.0 - 0.05 * i + noise[i % 10] for i in range(90)]
    src = source(tmp_path / "s", {"storage_gb": lambda i: values[i] if i < 90 else None}, 200)
    got = signals(src, NAMES)
    assert got["projection_storage_gb"] == "projected"
    assert got["days_to_limit_storage_gb"] == pytest.approx(reference(values, 20.0), rel=1e-9)
    assert got["days_to_limit_storage_gb_low"] is None


def test_a_per_cycle_limit_is_reached_by_the_daily_rate_that_fills_a_cycle(
    tmp_path: Path,
) -> None:
    # 1,000 runs a cycle is 32.85 a day; runs are 20 today and grow 0.25 a day, so the last
    # 28 days' mean is 20 - 0.25 * 13.5 and grows 0.25 a day too. Its line is fitted from the
    # first day with 28 days behind it (33 days here).
    src = source(tmp_path / "s", {"automation_runs": lambda i: 20 - 0.25 * i}, 60)
    got = signals(src, {"days_to_limit_automation_runs", "projection_automation_runs"})
    assert got["projection_automation_runs"] == "projected"
    level = 20 - 0.25 * 13.5
    assert got["days_to_limit_automation_runs"] == pytest.approx((1000 / CYCLE_DAYS - level) / 0.25)


def test_a_per_cycle_limit_is_not_reached_by_one_busy_day(tmp_path: Path) -> None:
    # 40 runs on Mondays, 30 on other days: the cycle's daily allowance (32.85) is passed
    # every Monday (today is one), but the 28 days' mean (31.4) is not there yet, and the
    # weekly pattern is no growth: four whole weeks hold every weekday alike, the mean is flat
    src = source(tmp_path / "s", {"automation_runs": lambda i: 40 if i % 7 == 0 else 30}, 90)
    got = signals(src, {"days_to_limit_automation_runs", "projection_automation_runs"})
    assert got["projection_automation_runs"] in ("not_growing", "not_within_a_year")
    assert got["days_to_limit_automation_runs"] is None


@pytest.mark.parametrize(
    ("values", "days", "status", "expected"),
    [
        (lambda i: 10 + 0.1 * i, 60, "not_growing", None),  # falling
        (lambda i: 10.0, 60, "not_growing", None),  # flat
        (lambda i: 15 - 0.1 * i, 27, "too_little_history", None),  # 27 of the 28 days needed
        (lambda i: 15 - 0.1 * i, 28, "projected", 50.0),
        (lambda i: 21.0 if i == 0 else 19.0, 60, "reached", 0.0),  # the latest value is over
        (lambda i: 15 - 0.01 * i, 60, "not_within_a_year", None),  # 5 GB at 0.01 a day: 500
    ],
    ids=["falling", "flat", "27-days", "28-days", "over-today", "over-a-year"],
)
def test_no_projection_says_why(
    tmp_path: Path, values: Callable[[int], float], days: int, status: str, expected: float | None
) -> None:
    src = source(tmp_path / "s", {"storage_gb": values}, days)
    got = signals(src, NAMES)
    assert got["projection_storage_gb"] == status
    if expected is None:
        assert got["days_to_limit_storage_gb"] is None
    else:
        assert got["days_to_limit_storage_gb"] == pytest.approx(expected)


def test_days_to_limit_is_the_nearest_of_the_metrics(tmp_path: Path) -> None:
    src = source(
        tmp_path / "s",
        {
            "storage_gb": lambda i: round(15.9 - 0.1 * i, 1),  # 41 days
            "automation_runs": lambda i: 20 - 0.25 * i,  # about 51 days
        },
        60,
    )
    got = signals(src, {"days_to_limit", "days_to_limit_storage_gb"})
    assert got["days_to_limit"] == pytest.approx(41.0)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    slope=st.floats(0.01, 0.3),
    today=st.floats(10.0, 19.0),
    wiggle=st.lists(st.floats(-0.5, 0.5), min_size=30, max_size=30),
)
def test_projection_property_matches_the_reference(
    tmp_path_factory: pytest.TempPathFactory, slope: float, today: float, wiggle: list[float]
) -> None:
    values = [round(today - slope * i + wiggle[i], 6) for i in range(30)]
    src = source(tmp_path_factory.mktemp("p"), {"storage_gb": lambda i: values[i]}, 30)
    got = signals(src, NAMES)
    xs = [-i for i in range(30)]
    w = [math.exp(x / RECENCY_DAYS / 2) for x in xs]
    slope, intercept = numpy.polyfit(xs, values, 1, w=w)
    if values[0] >= 20 or intercept >= 20:
        assert got["projection_storage_gb"] == "reached"
    elif slope <= 0:
        assert got["projection_storage_gb"] == "not_growing"
    elif reference(values, 20.0) > 365:
        assert got["projection_storage_gb"] == "not_within_a_year"
        assert got["days_to_limit_storage_gb"] is None
    else:
        days = reference(values, 20.0)
        assert got["days_to_limit_storage_gb"] == pytest.approx(days, rel=1e-6)

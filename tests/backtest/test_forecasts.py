"""The forecast check on hand-made usage whose crossing days are planted: every projection of a
straight line lands on its day; a line that bends after the forecast misses by what the bend
moved it; forecasts without an interval (two accounts: too little history to measure one on)
are counted apart; an account that stops reporting is judged only as far as its data goes; a flat
account that later jumps is a "not growing" call that reached the limit; the command prints
the table and refuses a range outside the data with the fix."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom.backtest.forecasts import check_forecasts
from headroom.cli.main import app
from headroom.sources import load
from tests.triggers.scenarios import Scenario

START = dt.date(2026, 1, 1)  # the first day of usage
LIMIT = 20.0  # a Starter account's storage_gb, a gauge


def write(folder: Path, series: Mapping[str, Sequence[float | None]]) -> Path:
    """Starter accounts with storage_gb values from START on (None: no row that day)."""
    s = Scenario(folder)
    for account, values in series.items():
        s.account(account, start="2025-06-01")
        s.daily(
            account,
            "storage_gb",
            [(START + dt.timedelta(days=i), v) for i, v in enumerate(values) if v is not None],
        )
    return s.write()


def line(days: int, at: float, per_day: float) -> list[float | None]:
    return [round(at + per_day * i, 6) for i in range(days)]


def test_a_straight_line_is_forecast_to_its_day_and_a_bend_is_missed_by_its_size(
    tmp_path: Path,
) -> None:
    # a1: 10 GB + 0.1 a day reaches 20 on day 100 exactly.
    # a2: the same until day 60, then 0.2 a day: 16 on day 60, 20 on day 80.
    bent = line(61, 10, 0.1) + [round(16 + 0.2 * i, 6) for i in range(1, 60)]
    folder = write(tmp_path / "src", {"a1": line(150, 10, 0.1), "a2": bent})
    source = load(folder, today=dt.date(2026, 12, 31))
    try:
        # forecasts made on days 27 to 39 (28 to 40 days of data): 61 to 73 days ahead
        first, last = START + dt.timedelta(days=27), START + dt.timedelta(days=39)
        check = check_forecasts(source, first, last)
    finally:
        source.close()
    (band,) = [b for b in check.bands if b.metric == "storage_gb"]
    assert (band.band, band.projections, band.crossed) == ("60-120", 26, 26)
    assert (band.judged, band.no_interval, band.coverage) == (0, 26, None)
    # a1 lands during its day (at k - 0.5: half a day off); a2 crossed 20 days earlier than
    # its straight line said; the plain line is the same line here, uncalibrated
    assert band.median_abs_error == pytest.approx(10.5)
    assert band.paired == 26
    assert band.line_median_abs_error == pytest.approx(10.5)


def test_data_that_stops_judges_a_forecast_only_as_far_as_it_goes(tmp_path: Path) -> None:
    # a1 stops reporting on day 59, before its crossing on day 100: it never crosses
    folder = write(tmp_path / "src", {"a1": line(60, 10, 0.1), "a2": line(150, 10, 0.1)})
    source = load(folder, today=dt.date(2026, 12, 31))
    try:
        check = check_forecasts(
            source, START + dt.timedelta(days=27), START + dt.timedelta(days=30)
        )
    finally:
        source.close()
    (band,) = check.bands
    assert (band.projections, band.crossed, band.no_interval) == (8, 4, 8)


def test_a_flat_account_that_jumps_is_a_not_growing_call_that_reached_the_limit(
    tmp_path: Path,
) -> None:
    flat = [12.0] * 200 + [25.0] * 200
    folder = write(tmp_path / "src", {"a1": flat, "a2": [12.0 for _ in range(400)]})
    source = load(folder, today=dt.date(2027, 12, 31))
    try:
        # calls made on days 30 to 34, each with a year of data after it
        check = check_forecasts(
            source, START + dt.timedelta(days=30), START + dt.timedelta(days=34)
        )
    finally:
        source.close()
    (calls,) = [n for n in check.not_growing if n.metric == "storage_gb"]
    assert (calls.calls, calls.judged, calls.reached_within_a_year) == (10, 10, 5)
    assert calls.share == 0.5


def test_the_command_prints_the_table_and_refuses_a_range_past_the_data(tmp_path: Path) -> None:
    folder = write(tmp_path / "src", {"a1": line(150, 10, 0.1)})
    run = CliRunner().invoke(
        app, ["backtest-forecasts", str(folder), "--start", "2026-01-28", "--end", "2026-02-09",
              "--format", "json"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    result = json.loads(run.stdout)
    assert [(b["band"], b["crossed"], b["coverage"]) for b in result["bands"]] == [
        ("60-120", 13, None)
    ]
    assert result["data_end"] == "2026-05-30"
    run = CliRunner().invoke(
        app, ["backtest-forecasts", str(folder), "--start", "2026-05-01", "--end", "2026-07-01"]
    )
    assert run.exit_code == 1
    assert run.stderr.strip() == (
        "error: the range 2026-05-01 to 2026-07-01 is not within the usage data (to "
        "2026-05-30); pass --start and --end with start <= end <= 2026-05-30; end it a year "
        "before 2026-05-30 to judge forecasts a year ahead"
    )

"""``headroom demo``: generate, validate and summarise in one command."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from headroom.cli.main import app


def test_demo_summarises_the_paying_base(workspace: Path) -> None:
    args = ["demo", "--accounts", "300", "--days", "200", "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["validation"] == "teamflow: valid, 0 warnings"
    assert body["as_of"] == "2026-09-30"

    # The same figures straight from the generated files, by a plain reference query.
    folder = workspace / "demo" / "teamflow"
    con = duckdb.connect()
    expected = con.execute(
        f"""
        select count(distinct account_id), sum(mrr), sum(seats)
        from read_csv_auto('{folder / "subscriptions.csv"}')
        where start_date <= date '2026-09-30'
          and (end_date is null or end_date > date '2026-09-30') and mrr > 0
        """
    ).fetchone()
    assert expected is not None
    totals = body["totals"]
    assert (totals["accounts"], totals["seats"]) == (expected[0], expected[2])
    assert totals["mrr"] == pytest.approx(float(expected[1]))
    revenue = body["revenue"]
    assert len(revenue["bridge"]) == 12
    assert revenue["nrr"]["start"] == "2025-09"
    assert revenue["time_to_expansion"]["accounts"] > 0
    assert body["queue"], "the demo shows the TeamFlow playbook's queue"
    assert set(body["queue"][0]) == {"account", "trigger", "why", "owner", "due"}
    plans = [row["plan"] for row in body["customers"]]
    order = ["Starter", "Professional", "Business", "Enterprise"]
    assert plans == sorted(plans, key=order.index)

    # A second run reuses the generated files and the loaded source.
    stamp = (folder / "subscriptions.csv").stat().st_mtime_ns
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0
    assert json.loads(again.stdout) == body
    assert (folder / "subscriptions.csv").stat().st_mtime_ns == stamp


def test_demo_table_output(workspace: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--accounts", "120", "--days", "90"])
    assert result.exit_code == 0, result.output
    assert "Paying customers on 2026-09-30 by plan and segment" in result.stdout
    assert "validate: teamflow: valid, 0 warnings" in result.stdout
    assert "Traceback" not in result.output

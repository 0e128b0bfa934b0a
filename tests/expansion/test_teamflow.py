"""Expansions on generated TeamFlow data: exactly what the generator planted, and the commands."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headroom.metrics.expansion import expansion_events
from headroom.sources import load
from tests.expansion.sources import run, run_json, whole_months

THROUGH = "2026-09-30"


@pytest.fixture(scope="module")
def source(teamflow: Callable[..., Path]) -> Path:
    """Four hundred days of TeamFlow (its truth folder says which accounts expanded)."""
    return teamflow(accounts=500, days=400, seed=9)


@pytest.fixture(scope="module")
def truth(source: Path) -> list[dict[str, str]]:
    with (source / "truth" / "readiness.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture
def events(source: Path) -> list[dict[str, Any]]:
    loaded = load(source, today=dt.date(2026, 10, 1))
    try:
        return list(
            expansion_events(loaded, dt.date.fromisoformat(THROUGH)).to_pyarrow().to_pylist()
        )
    finally:
        loaded.close()


def test_every_planted_expansion_is_found_on_its_day_with_its_kind(
    events: list[dict[str, Any]], truth: list[dict[str, str]]
) -> None:
    found = {(e["account_id"], e["date"].isoformat()): e["kind"] for e in events}
    planted = {(r["account_id"], r["expanded_on"]): r["expansion_kind"] for r in truth
               if r["expanded_on"]}  # fmt: skip
    assert len(planted) > 50
    assert {k for k in planted if found.get(k) != planted[k]} == set()
    # And nothing else rises: the only other expansions are the planted organic seat noise.
    organic = {(r["account_id"], r["noise_on"]): "seats" for r in truth
               if r["noise"] == "organic_expansion" and r["noise_on"]}  # fmt: skip
    assert found == planted | {k: v for k, v in organic.items() if k in found}
    assert all(e["delta_mrr"] > 0 and e["mrr_before"] > 0 for e in events)


def test_the_commands_agree_with_the_events(source: Path, events: list[dict[str, Any]]) -> None:
    args = ["--through", THROUGH]
    groups = run_json("expansions", str(source), *args, "--by", "segment")
    assert {g["group"] for g in groups} <= {"smb", "mid_market", "enterprise"}
    assert sum(g["expansions"] for g in groups) == len(events)
    assert sum(g["expansion_mrr"] for g in groups) == pytest.approx(
        float(sum(e["delta_mrr"] for e in events))
    )
    for g in groups:
        assert g["expansion_arr"] == pytest.approx(12 * g["expansion_mrr"])
    kinds = run_json("expansions", str(source), *args, "--by", "kind")
    assert {g["group"] for g in kinds} == {"seats", "tier"}

    survival = run_json("time-to-expansion", str(source), *args, "--by", "segment")
    whole, *parts = survival["groups"]
    assert whole["group"] == "all"
    assert whole["accounts"] == sum(p["accounts"] for p in parts)
    assert whole["expanded"] == sum(p["expanded"] for p in parts)
    # Expanded: the first expansion came before any churn, so at most every account with one.
    assert 0 < whole["expanded"] <= len({e["account_id"] for e in events})
    assert whole["curve"][0] == {"days": 0, "not_yet_expanded": 1.0}
    shares = [p["not_yet_expanded"] for p in whole["curve"]]
    assert shares == sorted(shares, reverse=True)

    gap = run_json("gap", str(source), *args, "--months-earlier", "3")

    expected = sum(
        e["delta_mrr"] * min(3, whole_months(e["first_paid"], e["date"])) for e in events
    )
    assert gap["revenue_in_gap"] == pytest.approx(float(expected))
    assert gap["expansions"] == len(events)
    assert sum(s["revenue_in_gap"] for s in gap["by_segment"]) == pytest.approx(float(expected))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["expansions", "--through", "2026-02-30"],
         "error: --through '2026-02-30' is not a date; write it YYYY-MM-DD, e.g. --through "
         "2026-03-31\n"),
        (["time-to-expansion", "--step", "0"],
         "error: --step must be at least 1 day, got 0; pass the days between the curve's "
         "points, e.g. --step 30\n"),
        (["gap", "--months-earlier", "0"],
         "error: --months-earlier must be at least 1, got 0; pass how many months sooner each "
         "expansion would have come, e.g. --months-earlier 3\n"),
    ],
)  # fmt: skip
def test_bad_options_are_told_verbatim(source: Path, args: list[str], message: str) -> None:
    result = run(args[0], str(source), *args[1:])
    assert result.exit_code == 1
    assert result.stderr == message


def test_an_unknown_grouping_names_the_known_ones(source: Path) -> None:
    result = run("expansions", str(source), "--by", "region")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: invalid value for '--by': 'region' is not one of 'segment', 'plan', 'csm', "
        "'owner', 'cohort', 'kind'; see 'headroom expansions --help'"
    )

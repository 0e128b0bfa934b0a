"""Time from first payment to first expansion: Kaplan-Meier against a hand computation."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

import pytest

from headroom.metrics.time_to_expansion import account_durations, kaplan_meier, time_to_expansion
from headroom.sources import load
from tests.expansion.sources import Row, run, run_json, write_source

THROUGH = "2024-02-20"
ACCOUNTS = [
    ("a", "smb", "", ""),
    ("b", "smb", "", ""),
    ("c", "enterprise", "", ""),
    ("d", "enterprise", "", ""),
    ("e", "smb", "", ""),
    ("f", "enterprise", "", ""),
]
#: All pay from 2024-01-01. a expands on day 10, b churns on day 20 (censored), c expands on
#: day 30, d on day 40, e never (censored at through, day 50), f churns on day 15 and comes
#: back bigger (a reactivation, not an expansion) and expands after: censored at day 15.
ROWS: list[Row] = [
    ("a", "2024-01-01", "2024-01-11", 100, "Starter", 10),
    ("a", "2024-01-11", None, 150, "Starter", 15),
    ("b", "2024-01-01", "2024-01-21", 100, "Starter", 10),
    ("c", "2024-01-01", "2024-01-31", 100, "Starter", 10),
    ("c", "2024-01-31", None, 300, "Pro", 10),
    ("d", "2024-01-01", None, 100, "Starter", 10),
    ("d", "2024-02-10", None, 20, "Starter", 2),
    ("e", "2024-01-01", None, 100, "Starter", 10),
    ("f", "2024-01-01", "2024-01-16", 100, "Starter", 10),
    ("f", "2024-01-20", "2024-01-25", 200, "Starter", 20),
    ("f", "2024-01-25", None, 300, "Starter", 30),
]


def product_limit(durations: list[tuple[int, bool]], t: int) -> Fraction:
    """S(t) = product over event times u <= t of (1 - events at u / at risk at u)."""
    s = Fraction(1)
    for u in sorted({d for d, e in durations if e and d <= t}):
        at_risk = sum(1 for d, _ in durations if d >= u)
        events = sum(1 for d, e in durations if e and d == u)
        s *= 1 - Fraction(events, at_risk)
    return s


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_source(tmp_path / "src", ROWS, accounts=ACCOUNTS)


def test_kaplan_meier_is_the_hand_computed_product_limit(folder: Path) -> None:
    source = load(folder)
    through = dt.date.fromisoformat(THROUGH)
    try:
        fits = time_to_expansion(source, through, step=10)
        per_account = account_durations(source.table("subscriptions"), None, through)
        rows = per_account.order_by("account_id").to_pyarrow().to_pylist()
    finally:
        source.close()
    assert len(fits) == 1
    fit = fits[0]
    assert (fit.group, fit.accounts, fit.expanded, fit.censored) == ("all", 6, 3, 3)
    durations = [(10, True), (20, False), (30, True), (40, True), (50, False), (15, False)]
    assert [(r["days"], r["expanded"]) for r in rows] == durations
    # By hand: 6 at risk at day 10 -> 5/6; 3 at risk at day 30 -> x 2/3; 2 at day 40 -> x 1/2.
    sixth, ninth, eighteenth = Fraction(1, 6), Fraction(1, 9), Fraction(1, 18)
    expected = [Fraction(1), 5 * sixth, 5 * sixth, 5 * ninth, 5 * eighteenth, 5 * eighteenth]
    assert [product_limit(durations, t) for t in range(0, 51, 10)] == expected
    assert [t for t, _ in fit.curve] == list(range(0, 51, 10))
    assert [s for _, s in fit.curve] == pytest.approx([float(s) for s in expected], abs=1e-12)
    assert fit.median_days == 40  # the first day the share not yet expanded is <= 1/2
    assert fit.expanded_by == {90: None, 180: None, 365: None}  # beyond 50 days of data


def test_by_segment_one_fit_per_group_and_an_unreached_median_says_so(folder: Path) -> None:
    body = run_json("time-to-expansion", str(folder), "--through", THROUGH, "--by", "segment",
                    "--step", "10")  # fmt: skip
    assert body["by"] == "segment"
    groups = {g["group"]: g for g in body["groups"]}
    assert list(groups) == ["all", "enterprise", "smb"]
    # enterprise: f (15, censored), c (30, expanded: 1 of 2 at risk), d (40, expanded)
    assert groups["enterprise"]["median_days"] == 30
    enterprise = [p["not_yet_expanded"] for p in groups["enterprise"]["curve"]]
    assert enterprise == [1.0, 1.0, 1.0, pytest.approx(0.5), 0.0]
    # smb: a (10, expanded), b (20, censored), e (50, censored): S never falls to 1/2.
    smb = groups["smb"]
    assert (smb["accounts"], smb["expanded"], smb["censored"]) == (3, 1, 2)
    assert smb["median_days"] is None
    assert smb["median_reached"] is False
    assert smb["median_note"] == (
        "not reached: fewer than half of these accounts are estimated to have expanded within "
        "the data"
    )
    assert groups["all"]["accounts"] == 6


def test_the_command_as_csv_and_table(folder: Path) -> None:
    result = run("time-to-expansion", str(folder), "--through", THROUGH, "--step", "25",
                 "--format", "csv")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "group,days,not_yet_expanded\nall,0,1.0\nall,25,0.833333\nall,50,0.277778\n"
    )
    result = run("time-to-expansion", str(folder), "--through", THROUGH, "--by", "segment")
    assert result.exit_code == 0, result.stderr
    assert "median_days is empty where fewer than half have expanded (yet)" in result.stdout


def test_the_durations_form_fits_as_before() -> None:
    """time_to_expansion(rows, step=...) still fits given durations (the demo calls it so)."""
    rows = [("all", 10, True), ("all", 20, False), ("all", 30, True), ("all", 40, True)]
    fit = time_to_expansion(rows, step=10)
    assert fit == kaplan_meier(rows, 10)
    assert fit is not None and fit.median_days == 30
    assert time_to_expansion([], step=10) is None


def test_the_share_expanded_by_90_180_and_365_days() -> None:
    fit = kaplan_meier([("all", 100, True), ("all", 400, False), ("all", 200, False)])
    assert fit is not None
    assert fit.expanded_by == {90: 0.0, 180: pytest.approx(1 / 3), 365: pytest.approx(1 / 3)}
    short = kaplan_meier([("all", 100, True), ("all", 200, False)])
    assert short is not None
    assert short.expanded_by == {90: 0.0, 180: 0.5, 365: None}  # past the data: unknown
    assert short.to_dict()["expanded_by_365d"] is None

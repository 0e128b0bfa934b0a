"""Expansion events, expansion ARR, time to expansion and the money in the gap."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.generate import Options, generate
from headroom.metrics.expansion import expansion_events, time_to_expansion
from headroom.sources import load

SUBS = {
    "subscription_id": "string",
    "account_id": "string",
    "start_date": "date",
    "end_date": "date",
    "mrr": "decimal(18, 4)",
    "plan": "string",
    "seats": "int64",
}
PLANS = ibis.memtable(
    {"plan": ["Starter", "Pro"], "rank": [1, 2], "seat_price": [Decimal(10), Decimal(20)]},
    schema={"plan": "string", "rank": "int64", "seat_price": "decimal(18, 4)"},
)
ACCOUNTS = ibis.memtable(
    {"account_id": ["a", "b"], "segment": ["smb", "enterprise"], "csm": ["c@x", None],
     "ae": [None, "ae@x"]},
    schema={"account_id": "string", "segment": "string", "csm": "string", "ae": "string"},
)  # fmt: skip
D = dt.date


def subs(rows: list[tuple[Any, ...]]) -> Any:
    return ibis.memtable(
        {
            "subscription_id": [f"s{i}" for i in range(len(rows))],
            "account_id": [r[0] for r in rows],
            "start_date": [r[1] for r in rows],
            "end_date": [r[2] for r in rows],
            "mrr": [Decimal(r[3]) for r in rows],
            "plan": [r[4] for r in rows],
            "seats": [r[5] for r in rows],
        },
        schema=SUBS,
    )


def events(
    rows: list[tuple[Any, ...]], through: dt.date = D(2025, 12, 31)
) -> list[tuple[Any, ...]]:
    table = expansion_events(subs(rows), PLANS, ACCOUNTS, through).order_by(["account_id", "date"])
    return [
        (e["account_id"], e["date"], e["delta_mrr"], e["kind"], e["owner"])
        for e in table.to_pyarrow().to_pylist()
    ]


def test_seats_tier_and_price_rises_are_expansions() -> None:
    rows = [
        ("a", D(2024, 1, 1), D(2024, 3, 10), 100, "Starter", 10),
        ("a", D(2024, 3, 10), D(2024, 6, 1), 150, "Starter", 15),  # more seats
        ("a", D(2024, 6, 1), D(2024, 9, 1), 300, "Pro", 15),  # higher tier
        ("a", D(2024, 9, 1), None, 330, "Pro", 15),  # price
        ("b", D(2024, 1, 1), D(2024, 5, 1), 500, "Pro", 20),
        ("b", D(2024, 5, 1), None, 500, "Pro", 20),  # a renewal at the same MRR: nothing
    ]
    assert events(rows) == [
        ("a", D(2024, 3, 10), Decimal(50), "seats", "c@x"),
        ("a", D(2024, 6, 1), Decimal(150), "tier", "c@x"),
        ("a", D(2024, 9, 1), Decimal(30), "price", "c@x"),
    ]


def test_a_return_after_a_gap_is_not_an_expansion_and_overlaps_add_up() -> None:
    rows = [
        ("a", D(2024, 1, 1), D(2024, 2, 1), 100, "Starter", 10),
        ("a", D(2024, 4, 1), None, 200, "Starter", 20),  # reactivation, not expansion
        ("b", D(2024, 1, 1), None, 100, "Starter", 10),
        ("b", D(2024, 7, 15), None, 40, "Starter", 4),  # an add-on row: MRR sums to 140
    ]
    assert events(rows) == [("b", D(2024, 7, 15), Decimal(40), "seats", "ae@x")]


def test_data_after_through_is_not_read() -> None:
    rows = [
        ("a", D(2024, 1, 1), D(2024, 6, 1), 100, "Starter", 10),
        ("a", D(2024, 6, 1), None, 150, "Starter", 15),
    ]
    assert events(rows, through=D(2024, 5, 31)) == []
    assert len(events(rows, through=D(2024, 6, 1))) == 1


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    rows = []
    for account in ("a", "b"):
        for _ in range(draw(st.integers(1, 4))):
            start = D(2024, 1, 1) + dt.timedelta(days=draw(st.integers(0, 120)))
            length = draw(st.one_of(st.none(), st.integers(1, 90)))
            end = None if length is None else start + dt.timedelta(days=length)
            mrr = draw(st.sampled_from([0, 50, 100, 120]))
            plan = draw(st.sampled_from(["Starter", "Pro"]))
            rows.append((account, start, end, mrr, plan, draw(st.integers(1, 30))))
    return rows


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_events_match_a_day_by_day_reference(rows: list[tuple[Any, ...]]) -> None:
    through = D(2024, 9, 1)

    def mrr(account: str, day: dt.date) -> Decimal:
        live = [r for r in rows if r[0] == account and r[1] <= day and (r[2] is None or day < r[2])]
        return sum((Decimal(r[3]) for r in live), Decimal(0))

    expected = []
    for account in ("a", "b"):
        day = D(2024, 1, 1)
        while day <= through:
            before, after = mrr(account, day - dt.timedelta(days=1)), mrr(account, day)
            if before > 0 and after > before:
                expected.append((account, day, after - before))
            day += dt.timedelta(days=1)
    got = [(a, d, delta) for a, d, delta, _, _ in events(rows, through)]
    assert got == expected


def test_kaplan_meier_against_a_hand_computed_product_limit() -> None:
    # Days 10 (expanded), 20 (censored), 30 (expanded), 40 (expanded), 50 (censored):
    # S(10) = 4/5; S(30) = 4/5 * 2/3; S(40) = 4/5 * 2/3 * 1/2.
    durations = [("all", 10, True), ("all", 20, False), ("all", 30, True), ("all", 40, True)]
    fit = time_to_expansion([*durations, ("all", 50, False)], step=10)
    assert fit is not None
    curve = dict(fit.curve)
    assert curve[10] == pytest.approx(0.8)
    assert curve[30] == pytest.approx(0.8 * 2 / 3)
    assert curve[40] == pytest.approx(0.8 * 2 / 3 * 0.5)
    assert fit.median_days == 40
    assert (fit.expanded, fit.censored) == (3, 2)


def write_source(folder: Path, subs_rows: list[str]) -> Path:
    folder.mkdir()
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,end_date,mrr,seats\n" + "".join(subs_rows)
    )
    (folder / "accounts.csv").write_text("account_id,segment\na1,smb\n")
    return folder


def gap(folder: Path, months: str) -> Any:
    return CliRunner().invoke(
        app,
        ["gap", str(folder), "--months-earlier", months, "--through", "2025-12-31", "--format",
         "json"],
    )  # fmt: skip


def test_the_product_brief_gap_example(tmp_path: Path) -> None:
    """$500 MRR from 2024-01; +$250 from month 18 (2025-06). Moved to month 3: 15 x $250."""
    folder = write_source(
        tmp_path / "src",
        ["s1,a1,2024-01-01,2025-06-01,500,10\n", "s2,a1,2025-06-01,2025-12-31,750,15\n"],
    )
    result = gap(folder, "15")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["revenue_in_gap"] == 3_750
    assert body["by_segment"] == [{"segment": "smb", "revenue_in_gap": 3750, "expansions": 1}]
    # Capped by the account's life: 17 months is all there was before the expansion.
    assert json.loads(gap(folder, "40").stdout)["revenue_in_gap"] == 17 * 250


@pytest.mark.parametrize("months", ["0", "-2", "121"])
def test_gap_rejects_months_out_of_range(tmp_path: Path, months: str) -> None:
    folder = write_source(tmp_path / "src", ["s1,a1,2024-01-01,,500,10\n"])
    result = CliRunner().invoke(app, ["gap", str(folder), "--months-earlier", months])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: --months-earlier {months} is out of range; pass a whole number of months "
        "from 1 to 120, e.g. --months-earlier 3\n"
    )


@pytest.fixture(scope="module")
def teamflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tf") / "src"
    generate(out, Options(accounts=500, days=400, seed=9))
    return out


def test_every_planted_expansion_is_found_with_its_kind(teamflow: Path) -> None:
    with (teamflow / "truth" / "readiness.csv").open() as f:
        truth = [r for r in csv.DictReader(f) if r["expanded_on"]]
    source = load(teamflow, today=D(2026, 10, 1))
    try:
        table = expansion_events(
            source.table("subscriptions"),
            source.table("plans"),
            source.table("accounts"),
            D(2026, 9, 30),
        )
        found = {
            (e["account_id"], e["date"].isoformat()): e["kind"]
            for e in table.to_pyarrow().to_pylist()
        }
    finally:
        source.close()
    assert len(truth) > 50
    for row in truth:
        assert found.get((row["account_id"], row["expanded_on"])) == row["expansion_kind"], row


def test_expansions_and_time_to_expansion_commands(teamflow: Path) -> None:
    args = ["--through", "2026-09-30", "--by", "segment", "--format", "json"]
    result = CliRunner().invoke(app, ["expansions", str(teamflow), *args])
    assert result.exit_code == 0, result.output
    groups = json.loads(result.stdout)
    assert {g["group"] for g in groups} <= {"smb", "mid_market", "enterprise"}
    for g in groups:
        assert g["expansion_arr"] == pytest.approx(12 * g["expansion_mrr"])
    result = CliRunner().invoke(app, ["time-to-expansion", str(teamflow), *args])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    whole = body["groups"][0]
    assert whole["group"] == "all"
    assert whole["accounts"] == sum(g["accounts"] for g in body["groups"][1:])
    assert whole["curve"][0] == {"days": 0, "not_yet_expanded": 1.0}

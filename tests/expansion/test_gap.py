"""Money in the gap: the product brief's example exactly, the lifetime cap, and bad options."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import ibis
import pytest

from headroom.metrics import gap as gap_module
from headroom.metrics.gap import revenue_in_gap
from tests.expansion.sources import Row, run, run_json, whole_months, write_source

D = dt.date


def ltv(mrr: int, months: int, amount: int, month: int) -> int:
    """PRODUCT.md's lifetime revenue: ``amount`` more MRR from month ``month`` (from 1) on."""
    return sum(mrr + (amount if m >= month else 0) for m in range(1, months + 1))


@pytest.fixture
def brief_source(tmp_path: Path) -> Path:
    """$500 MRR for a 24-month life from 2024-01; +$250 from month 18 (2025-06); its data
    ends with it, on 2026-01-01."""
    rows: list[Row] = [
        ("a", "2024-01-01", "2025-06-01", 500, "Starter", 10),
        ("a", "2025-06-01", "2026-01-01", 750, "Starter", 15),
    ]
    return write_source(tmp_path / "src", rows)


def test_the_product_brief_example_exactly(brief_source: Path) -> None:
    assert ltv(500, 24, 250, 3) == 17_500 and ltv(500, 24, 250, 18) == 13_750
    body = run_json("gap", str(brief_source), "--months-earlier", "15", "--through", "2026-01-01")
    assert body == {
        "months_earlier": 15,
        "revenue_in_gap": 3_750,  # = 17,500 - 13,750: month 18 moved to month 3
        "expansions": 1,
        "by_segment": [{"segment": "smb", "revenue_in_gap": 3_750, "expansions": 1}],
        "through": "2026-01-01",
    }
    assert body["revenue_in_gap"] == ltv(500, 24, 250, 3) - ltv(500, 24, 250, 18)


def test_an_expansion_never_moves_before_the_first_payment(brief_source: Path) -> None:
    # Month 18 can move at most 17 months, to month 1.
    for months, moved in [(1, 1), (17, 17), (18, 17), (120, 17)]:
        args = ["gap", str(brief_source), "--months-earlier", str(months)]
        body = run_json(*args, "--through", "2026-01-01")
        assert (
            body["revenue_in_gap"]
            == moved * 250
            == ltv(500, 24, 250, 18 - moved) - ltv(500, 24, 250, 18)
        )


def test_whole_months_are_counted_from_the_day_of_first_payment(tmp_path: Path) -> None:
    rows: list[Row] = [
        ("a", "2024-01-15", "2024-03-10", 100, "Starter", 10),
        ("a", "2024-03-10", None, 150, "Starter", 15),  # 1 whole month and 24 days in: 1
        ("b", "2024-01-31", "2024-02-29", 100, "Starter", 10),
        ("b", "2024-02-29", None, 130, "Starter", 13),  # a month from Jan 31 is Feb 29: 1
        ("c", "2024-01-31", "2024-02-28", 100, "Starter", 10),
        ("c", "2024-02-28", None, 110, "Starter", 11),  # a day short of a month: 0
    ]
    body = run_json("gap", str(write_source(tmp_path / "src", rows)), "--months-earlier", "6",
                    "--through", "2024-12-31")  # fmt: skip
    assert body["revenue_in_gap"] == 50 + 30
    assert body["expansions"] == 3
    assert body["by_segment"] == [
        {"segment": "enterprise", "revenue_in_gap": 0, "expansions": 1},
        {"segment": "mid_market", "revenue_in_gap": 30, "expansions": 1},
        {"segment": "smb", "revenue_in_gap": 50, "expansions": 1},
    ]


def test_whole_months_match_calendar_arithmetic() -> None:
    starts = [D(2024, 1, 31), D(2024, 1, 15), D(2023, 12, 1), D(2024, 2, 29), D(2023, 3, 31)]
    ends = [D(2024, 2, 28), D(2024, 2, 29), D(2024, 3, 14), D(2024, 3, 31), D(2025, 2, 28),
            D(2024, 1, 31), D(2024, 4, 30), D(2025, 3, 1)]  # fmt: skip
    pairs = [(s, e) for s in starts for e in ends if e >= s]
    t = ibis.memtable({"s": [p[0] for p in pairs], "e": [p[1] for p in pairs]})
    got = t.select(m=gap_module.whole_months(t.s, t.e)).to_pyarrow().column("m").to_pylist()
    assert got == [whole_months(s, e) for s, e in pairs]


def test_expansions_after_the_lifetime_end_do_not_count(brief_source: Path) -> None:
    body = run_json("gap", str(brief_source), "--months-earlier", "3", "--through", "2025-05-31")
    assert (body["revenue_in_gap"], body["expansions"], body["by_segment"]) == (0, 0, [])


def test_the_core_call_takes_events_months_and_the_lifetime_end() -> None:
    events = ibis.memtable(
        {
            "account_id": ["a", "a"],
            "date": [D(2025, 6, 1), D(2025, 9, 1)],
            "delta_mrr": [Decimal(250), Decimal(100)],
            "segment": ["smb", "smb"],
            "first_paid": [D(2024, 1, 1), D(2024, 1, 1)],
        }
    )
    gap = revenue_in_gap(events, 15, D(2025, 6, 30))
    assert (gap.revenue_in_gap, gap.expansions) == (Decimal(3750), 1)
    assert revenue_in_gap(events, 15).revenue_in_gap == Decimal(3750 + 1500)


@pytest.mark.parametrize(
    ("months", "message"),
    [
        ("0", "--months-earlier must be at least 1, got 0; pass how many months sooner each "
              "expansion would have come, e.g. --months-earlier 3"),
        ("-2", "--months-earlier must be at least 1, got -2; pass how many months sooner each "
               "expansion would have come, e.g. --months-earlier 3"),
        ("121", "--months-earlier must be at most 120 (ten years), got 121; pass a number from "
                "1 to 120, e.g. --months-earlier 12"),
        ("2.5", "--months-earlier '2.5' is not a whole number of months; pass how many months "
                "sooner each expansion would have come, e.g. --months-earlier 3"),
    ],
)  # fmt: skip
def test_bad_months_are_refused_before_the_source_is_read(
    tmp_path: Path, months: str, message: str
) -> None:
    # The folder does not even exist: the option is checked first.
    result = run("gap", str(tmp_path / "nowhere"), "--months-earlier", months)
    assert result.exit_code == 1
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""

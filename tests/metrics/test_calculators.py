"""``headroom ltv`` and ``headroom plan``: the seed's figures, exact, and clear errors.

The reference figures are PRODUCT.md's ("Why it exists"): $500 MRR over 24 months with +$250
from month 3 is $17,500, from month 18 $13,750; $297 for 24 months is $7,128; at $10M ARR, 85%
NRR and 40% growth the company needs $5.5M of new-logo ARR, at 100% NRR $4M.
"""

from __future__ import annotations

import doctest
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.metrics import calculators
from headroom.metrics.calculators import Expansion, ltv, plan


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--mrr", "500", "--months", "24", "--expansion", "250@3"], 17_500),
        (["--mrr", "500", "--months", "24", "--expansion", "250@18"], 13_750),
        (["--mrr", "297", "--months", "24"], 7_128),
    ],
)
def test_ltv_matches_the_seed(args: list[str], expected: int) -> None:
    code, out, _ = run("ltv", *args, "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert body["ltv"] == expected
    assert len(body["schedule"]) == 24
    assert sum(body["schedule"]) == expected


def test_moving_an_expansion_earlier_is_worth_its_amount_per_month() -> None:
    late = ltv(Decimal(500), 24, [Expansion(Decimal(250), 18)]).ltv
    early = ltv(Decimal(500), 24, [Expansion(Decimal(250), 3)]).ltv
    assert early - late == 15 * 250  # PRODUCT.md: every month earlier is worth ΔMRR


def test_discounting_is_end_of_month() -> None:
    # A single month at 12% a year: end-of-month cash is worth 100 / 1.12 ** (1/12), not 100
    # (start-of-month would leave month 1 undiscounted).
    one = ltv(Decimal(100), 1, discount_rate=Decimal("0.12")).ltv
    assert one == Decimal("99.06")
    assert one == Decimal(100 / 1.12 ** (1 / 12)).quantize(Decimal("0.01"))
    # Twelve months at 12%: the last payment is discounted by exactly one year.
    year = ltv(Decimal(100), 12, discount_rate=Decimal("0.12"))
    assert year.ltv == Decimal("1129.15")
    assert year.schedule == [Decimal(100)] * 12  # the schedule stays undiscounted MRR


def test_expansion_timing() -> None:
    code, out, _ = run("ltv", "--mrr", "500", "--months", "24", "--expansion", "250@18",
                       "--expansion", "100@1", "--format", "json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["expansion_timing"] == [
        {"amount": 250, "month": 18, "one_month_earlier_adds": 250},
        {"amount": 100, "month": 1, "one_month_earlier_adds": None},
    ]
    # Discounted and at a margin, a month earlier is worth that month's margin, discounted.
    result = ltv(Decimal(500), 24, [Expansion(Decimal(250), 18)],
                 discount_rate=Decimal("0.10"), gross_margin=Decimal("0.8"))  # fmt: skip
    gain = result.one_month_earlier[0]
    assert gain is not None
    assert float(gain) == pytest.approx(250 * 0.8 / 1.10 ** (17 / 12), abs=0.011)


def test_discount_and_margin() -> None:
    # End-of-month cash at 12% a year: month k is worth 1 / 1.12 ** (k / 12).
    result = ltv(Decimal(100), 12, discount_rate=Decimal("0.12"), gross_margin=Decimal("0.8"))
    expected = sum(100 / 1.12 ** (k / 12) for k in range(1, 13)) * 0.8
    assert float(result.ltv) == pytest.approx(expected, abs=0.01)
    code, out, _ = run(
        "ltv", "--mrr", "100", "--months", "12", "--discount-rate", "0.12", "--gross-margin",
        "0.8", "--format", "json",
    )  # fmt: skip
    assert code == 0
    body = json.loads(out)
    assert (body["discount_rate"], body["gross_margin"]) == (0.12, 0.8)
    assert body["ltv"] == pytest.approx(expected, abs=0.01)


def test_ltv_csv_and_table() -> None:
    code, out, _ = run("ltv", "--mrr", "500", "--months", "4", "--expansion", "250@3",
                       "--format", "csv")  # fmt: skip
    assert code == 0
    assert out == "month,mrr\n1,500\n2,500\n3,750\n4,750\n"
    code, out, _ = run("ltv", "--mrr", "500", "--months", "24", "--expansion", "250@3")
    assert code == 0
    assert "17,500" in out
    assert "one month earlier adds 250" in out


@given(
    mrr=st.decimals(0, 100_000, places=2),
    months=st.integers(1, 120),
    raw=st.lists(st.tuples(st.decimals(0, 10_000, places=2), st.integers(1, 120)), max_size=4),
)
def test_ltv_is_the_sum_of_its_schedule(
    mrr: Decimal, months: int, raw: list[tuple[Decimal, int]]
) -> None:
    expansions = [Expansion(a, min(m, months)) for a, m in raw]
    result = ltv(mrr, months, expansions)
    assert result.ltv == sum(result.schedule)
    assert result.ltv == mrr * months + sum(e.amount * (months - e.month + 1) for e in expansions)
    for i, e in enumerate(expansions):
        if e.month > 1:
            moved = [x if x is not e else Expansion(e.amount, e.month - 1) for x in expansions]
            assert ltv(mrr, months, moved).ltv - result.ltv == e.amount
            assert result.one_month_earlier[i] == e.amount
        else:
            assert result.one_month_earlier[i] is None


def test_plan_matches_the_seed() -> None:
    code, out, _ = run("plan", "--arr", "10000000", "--nrr", "0.85", "--growth", "0.40",
                       "--format", "json")  # fmt: skip
    assert code == 0
    body = json.loads(out)
    assert body["target_arr"] == 14_000_000
    assert body["retained_arr"] == 8_500_000
    assert body["new_logo_arr_needed"] == 5_500_000
    rates = [row["nrr"] for row in body["sensitivity"]]
    assert rates == [0.8, 0.85, 0.9, 0.95, 1, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3]
    at_100 = next(r for r in body["sensitivity"] if r["nrr"] == 1)
    assert at_100["new_logo_arr_needed"] == 4_000_000
    # Exact decimal steps, not float drift.
    assert [r.nrr for r in plan(Decimal(1), Decimal(1), Decimal(0)).sensitivity] == [
        Decimal(f"{x / 100:.2f}") for x in range(80, 131, 5)
    ]


def test_plan_csv_and_table() -> None:
    code, out, _ = run("plan", "--arr", "10000000", "--nrr", "0.85", "--growth", "0.40",
                       "--format", "csv")  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "nrr,retained_arr,new_logo_arr_needed"
    assert len(lines) == 12
    assert lines[2] == "0.85,8500000,5500000"
    code, out, _ = run("plan", "--arr", "10000000", "--nrr", "0.85", "--growth", "0.40")
    assert code == 0
    assert "5,500,000.00" in out


def test_growth_of_minus_one_is_a_target_of_nothing() -> None:
    result = plan(Decimal(100), Decimal("0.9"), Decimal(-1))
    assert (result.target_arr, result.new_logo_arr_needed) == (Decimal(0), Decimal(-90))


def test_docstring_examples() -> None:
    assert doctest.testmod(calculators).failed == 0


@given(
    arr=st.decimals(0, 10**9, places=2),
    nrr=st.decimals(0, 3, places=3),
    growth=st.decimals(-1, 5, places=3),
)
def test_plan_identity(arr: Decimal, nrr: Decimal, growth: Decimal) -> None:
    result = plan(arr, nrr, growth)
    assert result.target_arr == result.retained_arr + result.new_logo_arr_needed
    for row in result.sensitivity:
        assert row.retained_arr + row.new_logo_arr_needed == result.target_arr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ltv", "--mrr", "500", "--months", "-3"],
            "--months -3 is not a lifetime; pass at least 1 month, e.g. --months 24",
        ),
        (
            ["ltv", "--mrr", "500", "--months", "0"],
            "--months 0 is not a lifetime; pass at least 1 month, e.g. --months 24",
        ),
        (
            ["ltv", "--mrr", "500", "--months", "5000"],
            "--months 5000 is more than 1200 months (100 years); pass a customer lifetime in "
            "months, e.g. --months 24",
        ),
        (
            ["ltv", "--mrr", "500", "--months", "24", "--expansion", "-250@3"],
            "--expansion -250@3 has a negative amount; pass the MRR an expansion adds, e.g. "
            "--expansion 250@3",
        ),
        (
            ["ltv", "--mrr", "500", "--months", "24", "--expansion", "250@30"],
            "--expansion 250@30 starts after the 24-month life; use a month from 1 to 24, or a "
            "longer --months",
        ),
        (
            ["ltv", "--mrr", "500", "--months", "24", "--expansion", "250@0"],
            "--expansion 250@0 has month 0; months count from 1 (the first month of the life)",
        ),
        (
            ["ltv", "--mrr", "500", "--months", "24", "--expansion", "250at3"],
            "--expansion '250at3' is not AMOUNT@MONTH; write it e.g. --expansion 250@3",
        ),
        (
            ["ltv", "--mrr", "-5", "--months", "24"],
            "--mrr -5 is negative; pass the monthly revenue, e.g. --mrr 500",
        ),
        (
            ["ltv", "--mrr", "abc", "--months", "24"],
            "--mrr 'abc' is not a number; e.g. --mrr 500",
        ),
        (
            ["ltv", "--mrr", "5", "--months", "24", "--discount-rate", "1.5"],
            "--discount-rate 1.5 is outside 0 to 1; pass an annual rate as a share, e.g. "
            "--discount-rate 0.10",
        ),
        (
            ["ltv", "--mrr", "5", "--months", "24", "--discount-rate", "-0.1"],
            "--discount-rate -0.1 is outside 0 to 1; pass an annual rate as a share, e.g. "
            "--discount-rate 0.10",
        ),
        (
            ["ltv", "--mrr", "5", "--months", "24", "--gross-margin", "1.2"],
            "--gross-margin 1.2 is outside 0 (excluded) to 1; pass a share, e.g. --gross-margin "
            "0.80",
        ),
        (
            ["ltv", "--mrr", "5", "--months", "24", "--gross-margin", "0"],
            "--gross-margin 0 is outside 0 (excluded) to 1; pass a share, e.g. --gross-margin 0.80",
        ),
        (
            ["plan", "--arr", "10000000", "--nrr", "7", "--growth", "0.4"],
            "--nrr 7 is not a plausible net revenue retention; pass it as a share between 0 and "
            "3, e.g. --nrr 1.05 for 105%",
        ),
        (
            ["plan", "--arr", "10000000", "--nrr", "-0.1", "--growth", "0.4"],
            "--nrr -0.1 is not a plausible net revenue retention; pass it as a share between 0 "
            "and 3, e.g. --nrr 1.05 for 105%",
        ),
        (
            ["plan", "--arr", "-1", "--nrr", "0.9", "--growth", "0.4"],
            "--arr -1 is negative; pass today's ARR, e.g. --arr 10000000",
        ),
        (
            ["plan", "--arr", "1", "--nrr", "0.9", "--growth", "-1.5"],
            "--growth -1.5 would shrink ARR below nothing; pass the growth target as a share "
            "of at least -1, e.g. --growth 0.40 for 40%",
        ),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 1
    assert out == ""
    assert err == f"error: {message}\n"

"""``headroom ltv`` and ``headroom plan``: the seed's figures, exact, and clear errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from headroom.cli.main import app
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
    for e in expansions:
        if e.month > 1:
            moved = [x if x is not e else Expansion(e.amount, e.month - 1) for x in expansions]
            assert ltv(mrr, months, moved).ltv - result.ltv == e.amount


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


@given(
    arr=st.decimals(0, 10**9, places=2),
    nrr=st.decimals(0, 3, places=3),
    growth=st.decimals(Decimal("-0.99"), 5, places=3),
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
            ["ltv", "--mrr", "5", "--months", "24", "--gross-margin", "0"],
            "--gross-margin 0 is outside 0 (excluded) to 1; pass a share, e.g. --gross-margin 0.80",
        ),
        (
            ["plan", "--arr", "10000000", "--nrr", "7", "--growth", "0.4"],
            "--nrr 7 is not a plausible net revenue retention; pass it as a share between 0 and "
            "3, e.g. --nrr 1.05 for 105%",
        ),
        (
            ["plan", "--arr", "-1", "--nrr", "0.9", "--growth", "0.4"],
            "--arr -1 is negative; pass today's ARR, e.g. --arr 10000000",
        ),
        (
            ["plan", "--arr", "1", "--nrr", "0.9", "--growth", "-1.5"],
            "--growth -1.5 would shrink ARR below nothing; pass the growth target as a share "
            "above -1, e.g. --growth 0.40 for 40%",
        ),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 1
    assert out == ""
    assert err == f"error: {message}\n"

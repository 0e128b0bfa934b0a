"""The shifted-beta-geometric fit reproduces Fader & Hardie's published figures.

Fader, P. S. and Hardie, B. G. S. (2007), "How to Project Customer Retention", Journal of
Interactive Marketing 21(1), 76-90 (working paper of May 2006 at brucehardie.com/papers/021):
the share of the "high end" and "regular" customer cohorts still a customer after years 1-7
(their Table 1, data from Berry and Linoff 2004), and the maximum-likelihood estimates from those
seven years: high end alpha = 0.668, beta = 3.806; regular alpha = 0.704, beta = 1.182. The
spreadsheet walk-through of the paper starts at alpha = beta = 1, where the high-end
log-likelihood of a cohort of 1000 customers is -2115.5.

Where these were checked: the paper itself could not be read through the search tool (only its
title page); the survival tables, the estimates, LL(1, 1) = -2.115 per customer, the projection
of years 8-12 (0.460, 0.436, 0.414, 0.395, 0.378) and DERL(d = 0.10) = 7.530 for a high-end
customer after the 7 years are the test values of jdmaturen/shifted_beta_geometric_py (README.md
and sbg.py, which quote the paper), and the same tables and estimates appear in the tests of an
independent TypeScript implementation. The actual high-end survival for years 8-12 (0.468,
0.445, 0.427, 0.409, 0.394) is from another repository's test of the paper's data.

Fader and Hardie (2010), "Customer-Base Valuation in a Contractual Setting: The Perils of
Ignoring Heterogeneity", Marketing Science 29(1), 85-93, equation (6), gives the discounted
expected residual lifetime (DERL) of a customer who has made n - 1 renewals (the form used by
runtastic/sBGmodel, which cites that equation). It is checked against a direct sum of the
discounted survival series, with S(t) = B(alpha, beta + t) / B(alpha, beta) computed here from
the beta function, not by the code under test.
"""

from __future__ import annotations

import doctest
import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import betaln
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.metrics import retention
from headroom.metrics.retention import SbgFit, fit_sbg, log_likelihood, survival

HIGH_END = [0.869, 0.743, 0.653, 0.593, 0.551, 0.517, 0.491]
REGULAR = [0.631, 0.468, 0.382, 0.326, 0.289, 0.262, 0.241]
HIGH_END_YEARS_8_TO_12 = [0.468, 0.445, 0.427, 0.409, 0.394]


def fit_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["retention", "fit", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def test_high_end_parameters() -> None:
    fit = fit_sbg(HIGH_END)
    assert (round(fit.alpha, 3), round(fit.beta, 3)) == (0.668, 3.806)
    assert log_likelihood(1.0, 1.0, HIGH_END) == pytest.approx(-2.1155, abs=1e-4)
    assert log_likelihood(1.0, 1.0, HIGH_END, 1000) == pytest.approx(-2115.5, abs=0.05)


def test_regular_parameters() -> None:
    fit = fit_sbg(REGULAR)
    assert (round(fit.alpha, 3), round(fit.beta, 3)) == (0.704, 1.182)


def test_projection_beyond_the_seven_years() -> None:
    projected = fit_sbg(HIGH_END).projected(5)
    assert [round(s, 3) for s in projected] == [0.460, 0.436, 0.414, 0.395, 0.378]
    # The paper's point: seven years of data forecast the next five within two points.
    assert all(abs(p - a) < 0.02 for p, a in zip(projected, HIGH_END_YEARS_8_TO_12, strict=True))


def test_cohort_size_scales_the_likelihood_only() -> None:
    small, large = fit_sbg(HIGH_END, 1), fit_sbg(HIGH_END, 1000)
    assert small.alpha == pytest.approx(large.alpha, rel=1e-6)
    assert small.beta == pytest.approx(large.beta, rel=1e-6)
    assert large.log_likelihood == pytest.approx(1000 * small.log_likelihood)
    body = fit_json("--survival", ",".join(map(str, HIGH_END)))
    assert body["cohort_size"] == 1000
    assert body["log_likelihood"] == pytest.approx(-1611.158, abs=1e-3)
    body = fit_json("--survival", ",".join(map(str, HIGH_END)), "--cohort-size", "10")
    assert body["log_likelihood"] == pytest.approx(-16.11158, abs=1e-5)


def _survival_from_beta_function(alpha: float, beta: float, t: int) -> float:
    # S(t) = B(alpha, beta + t) / B(alpha, beta): the integral of (1 - theta) ** t over the
    # beta mixing distribution, a different route from the product of retention rates.
    return math.exp(betaln(alpha, beta + t) - betaln(alpha, beta))


@pytest.mark.parametrize("d", [0.05, 0.10, 0.25, 1.0])
def test_derl_equals_the_discounted_sum_of_survival(d: float) -> None:
    fit = fit_sbg(HIGH_END)
    n = len(HIGH_END) + 1  # still there after 7 years: 7 renewals made, so n - 1 = 7
    s_before = _survival_from_beta_function(fit.alpha, fit.beta, n - 1)
    direct = sum(
        _survival_from_beta_function(fit.alpha, fit.beta, t) / s_before * (1 + d) ** (n - t)
        for t in range(n, n + 3000)
    )
    assert fit.expected_residual_lifetime(d) == pytest.approx(direct, rel=1e-6)


def test_derl_of_a_high_end_customer_after_seven_years() -> None:
    fit = fit_sbg(HIGH_END)
    assert fit.expected_residual_lifetime(0.10) == pytest.approx(7.530, abs=5e-4)
    # Sorting: the longer a customer has stayed, the longer they are expected to stay.
    derls = [
        SbgFit(fit.alpha, fit.beta, 0.0, HIGH_END[:k]).expected_residual_lifetime(0.10)
        for k in range(1, 8)
    ]
    assert all(b > a for a, b in itertools.pairwise(derls))


def test_fit_command() -> None:
    body = fit_json("--survival", ",".join(map(str, HIGH_END)), "--periods", "5",
                    "--discount-rate", "0.1")  # fmt: skip
    assert (round(body["alpha"], 3), round(body["beta"], 3)) == (0.668, 3.806)
    assert body["observed_survival"] == HIGH_END
    assert len(body["fitted_survival"]) == 7
    assert body["projected_survival"] == pytest.approx([0.460, 0.436, 0.414, 0.395, 0.378],
                                                       abs=5e-4)  # fmt: skip
    assert body["expected_residual_lifetime"] == pytest.approx(7.530, abs=5e-4)
    assert "note" not in body
    assert len(fit_json("--survival", "0.869,0.743,0.653")["projected_survival"]) == 12


def test_fit_csv_and_table() -> None:
    result = CliRunner().invoke(
        app, ["retention", "fit", "--survival", "0.869,0.743,0.653", "--periods", "2",
              "--format", "csv"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "period,observed,fitted"
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["1", "0.869"], ["2", "0.743"], ["3", "0.653"], ["4", ""], ["5", ""],
    ]  # fmt: skip
    result = CliRunner().invoke(
        app, ["retention", "fit", "--survival", ",".join(map(str, HIGH_END)),
              "--discount-rate", "0.1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "alpha 0.6681, beta 3.8061" in result.stdout
    assert "7.530 periods" in result.stdout


def test_a_constant_churn_rate_is_reported_not_hidden() -> None:
    body = fit_json("--survival", "0.9,0.81,0.729,0.6561")
    assert body["note"] == "constant churn 10.0% per period: no spread between customers"
    assert body["projected_survival"][0] == pytest.approx(0.9**5, abs=1e-3)


@given(st.floats(0.05, 20), st.floats(0.05, 20))
def test_survival_falls_and_stays_a_share(alpha: float, beta: float) -> None:
    s = survival(alpha, beta, 60)
    assert all(0 < x <= 1 for x in s)
    assert all(b < a for a, b in itertools.pairwise(s))
    assert math.isclose(1 - s[0], alpha / (alpha + beta))
    assert math.isclose(s[9], _survival_from_beta_function(alpha, beta, 10), rel_tol=1e-9)


@settings(max_examples=15, deadline=None)
@given(st.floats(0.2, 5), st.floats(0.5, 10))
def test_the_fit_recovers_the_parameters_of_an_exact_curve(alpha: float, beta: float) -> None:
    fit = fit_sbg(survival(alpha, beta, 8))
    assert fit.alpha == pytest.approx(alpha, rel=1e-3)
    assert fit.beta == pytest.approx(beta, rel=1e-3)


def test_docstring_examples() -> None:
    assert doctest.testmod(retention).failed == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--survival", "0.9"], "--survival has 1 value; give the share still a customer after "
         "each of at least 2 periods, e.g. --survival 0.869,0.743,0.653"),
        (["--survival", "0.9,1.2"], "--survival value 2 (1.2) is not a share in (0, 1]; write "
         "shares, e.g. 0.869 for 86.9%"),
        (["--survival", "0.9,0"], "--survival value 2 (0.0) is not a share in (0, 1]; write "
         "shares, e.g. 0.869 for 86.9%"),
        (["--survival", "0.7,0.8"], "--survival value 2 (0.8) is above value 1 (0.7); survival "
         "never rises: each value is the share of the starting cohort still a customer after "
         "that period"),
        (["--survival", "0.9,abc"], "--survival '0.9,abc' is not a list of numbers; write shares "
         "separated by commas, e.g. --survival 0.869,0.743,0.653"),
        (["--survival", "1,1,1"], "--survival never falls below 1: nobody churned, there is "
         "nothing to fit; pass a curve with some churn, e.g. --survival 0.869,0.743,0.653"),
        (["--survival", "0.9,0.8", "--periods", "-1"], "--periods -1 is outside 0 to 1000; pass "
         "how many periods to project after the data, e.g. --periods 12"),
        (["--survival", "0.9,0.8", "--discount-rate", "0"], "--discount-rate 0 is outside 0 "
         "(excluded) to 1; pass a rate per period as a share, e.g. --discount-rate 0.10 (without "
         "discounting the expected lifetime can be infinite)"),
        (["--survival", "0.9,0.8", "--discount-rate", "1.5"], "--discount-rate 1.5 is outside 0 "
         "(excluded) to 1; pass a rate per period as a share, e.g. --discount-rate 0.10 (without "
         "discounting the expected lifetime can be infinite)"),
        (["--survival", "0.9,0.8", "--cohort-size", "0"], "--cohort-size 0 is not a cohort; pass "
         "how many customers started, e.g. --cohort-size 1000"),
    ],
)  # fmt: skip
def test_bad_options(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["retention", "fit", *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"


def test_cohorts_from_a_source(tmp_path: Path) -> None:
    """Twelve accounts start in 2024-01; 3 churn after 2 months, 3 after 4; 6 stay.

    Survival after month 1..5: 1, 0.75, 0.75, 0.5, 0.5. A 2024-02 cohort of two never churns.
    """
    rows = []
    for i in range(12):
        end = "2024-03-01" if i < 3 else "2024-05-01" if i < 6 else ""
        rows.append(f"s{i},a{i},2024-01-01,{end},10\n")
    rows += ["t1,b1,2024-02-01,,10\n", "t2,b2,2024-02-01,,10\n"]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,end_date,mrr\n" + "".join(rows)
    )
    result = CliRunner().invoke(
        app,
        ["retention", "cohorts", str(tmp_path / "src"), "--through", "2024-06-30",
         "--min-accounts", "2", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    jan, feb = json.loads(result.stdout)["cohorts"]
    assert jan["cohort"] == "2024-01"
    assert jan["observed_survival"] == [1.0, 0.75, 0.75, 0.5, 0.5]
    reference = fit_sbg([1.0, 0.75, 0.75, 0.5, 0.5])
    assert jan["alpha"] == pytest.approx(reference.alpha, rel=1e-4)
    assert jan["beta"] == pytest.approx(reference.beta, rel=1e-4)
    assert feb["alpha"] is None
    assert feb["reason"] == "no churn yet: nothing to fit"

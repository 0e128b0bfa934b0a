"""The shifted-beta-geometric fit reproduces Fader & Hardie's published figures.

Fader, P. S. and Hardie, B. G. S. (2007), "How to Project Customer Retention", Journal of
Interactive Marketing 21(1), 76-90: the survival of the "high end" and "regular" customer
cohorts over years 1-7 (their Table 1 / Figure 1), and the maximum-likelihood estimates fitted to
those seven years: high end alpha = 0.668, beta = 3.806; regular alpha = 0.704, beta = 1.182;
the log-likelihood of the high-end data at alpha = beta = 1 is -2.115 (their spreadsheet
walk-through). Fader and Hardie (2010), "Customer-Base Valuation in a Contractual Setting"
(Marketing Science 29(1)), give the discounted expected residual lifetime (DERL); it is checked
here against a direct discounted sum of the model's survival, an independent computation.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.metrics.retention import fit_sbg, log_likelihood, survival

HIGH_END = [0.869, 0.743, 0.653, 0.593, 0.551, 0.517, 0.491]
REGULAR = [0.631, 0.468, 0.382, 0.326, 0.289, 0.262, 0.241]


def test_high_end_parameters() -> None:
    fit = fit_sbg(HIGH_END)
    assert (round(fit.alpha, 3), round(fit.beta, 3)) == (0.668, 3.806)
    assert log_likelihood(1.0, 1.0, HIGH_END) == pytest.approx(-2.115, abs=1e-3)


def test_regular_parameters() -> None:
    fit = fit_sbg(REGULAR)
    assert (round(fit.alpha, 3), round(fit.beta, 3)) == (0.704, 1.182)


def test_derl_equals_the_discounted_sum_of_survival() -> None:
    fit = fit_sbg(HIGH_END)
    d, n = 0.10, len(HIGH_END) + 1  # still there after 7 years: 7 renewals, n - 1 = 7
    s = [1.0, *survival(fit.alpha, fit.beta, 2000)]
    direct = sum(s[t] / s[n - 1] / (1 + d) ** (t - n) for t in range(n, len(s)))
    assert fit.expected_residual_lifetime(d) == pytest.approx(direct, rel=1e-9)
    assert fit.expected_residual_lifetime(d) == pytest.approx(7.530, abs=5e-4)


def test_fit_command() -> None:
    result = CliRunner().invoke(
        app,
        ["retention", "fit", "--survival", ",".join(map(str, HIGH_END)), "--periods", "5",
         "--discount-rate", "0.1", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (round(body["alpha"], 3), round(body["beta"], 3)) == (0.668, 3.806)
    assert len(body["projected_survival"]) == 5
    assert body["projected_survival"][0] < HIGH_END[-1]
    assert body["expected_residual_lifetime"] == pytest.approx(7.530, abs=5e-4)


@given(st.floats(0.05, 20), st.floats(0.05, 20))
def test_survival_falls_and_stays_a_share(alpha: float, beta: float) -> None:
    s = survival(alpha, beta, 60)
    assert all(0 < x <= 1 for x in s)
    assert all(b < a for a, b in itertools.pairwise(s))
    assert math.isclose(1 - s[0], alpha / (alpha + beta))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.9", "--survival has 1 value; give the share still a customer after each of at least "
         "2 periods, e.g. --survival 0.869,0.743,0.653"),
        ("0.9,1.2", "--survival value 2 (1.2) is not a share in (0, 1]; write shares, e.g. 0.869 "
         "for 86.9%"),
        ("0.7,0.8", "--survival value 2 (0.8) is above value 1 (0.7); survival never rises: "
         "each value is the share of the starting cohort still a customer after that period"),
        ("0.9,abc", "--survival '0.9,abc' is not a list of numbers; write shares separated by "
         "commas, e.g. --survival 0.869,0.743,0.653"),
    ],
)  # fmt: skip
def test_bad_survival(value: str, message: str) -> None:
    result = CliRunner().invoke(app, ["retention", "fit", "--survival", value])
    assert result.exit_code == 1
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

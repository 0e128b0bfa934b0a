"""The shifted-beta-geometric (sBG) retention model for contractual customers.

Fader, P. S. and Hardie, B. G. S. (2007), "How to Project Customer Retention", Journal of
Interactive Marketing 21(1): each customer renews each period with a probability of their own,
and those probabilities vary across customers as a beta(alpha, beta) distribution. Fitted by
maximum likelihood to a cohort's survival curve, it projects survival beyond the data and values
the customers still there (Fader and Hardie 2010, "Customer-Base Valuation in a Contractual
Setting: The Perils of Ignoring Heterogeneity", Marketing Science 29(1)).

>>> fit = fit_sbg([0.869, 0.743, 0.653, 0.593, 0.551, 0.517, 0.491])
>>> round(fit.alpha, 3), round(fit.beta, 3)
(0.668, 3.806)
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
from scipy.optimize import minimize
from scipy.special import hyp2f1

from headroom.errors import UsageError
from headroom.metrics.expansion import account_durations, change_days

#: Bound on |log alpha| and |log beta| in the fit (alpha and beta within 1e-4 .. 1e4).
LOG_BOUND = math.log(1e4)


def churn_probabilities(alpha: float, beta: float, periods: int) -> list[float]:
    """P(T = t) for t = 1..periods: the share of a cohort lost in period t."""
    p = [alpha / (alpha + beta)]
    for t in range(2, periods + 1):
        p.append(p[-1] * (beta + t - 2) / (alpha + beta + t - 1))
    return p


def survival(alpha: float, beta: float, periods: int) -> list[float]:
    """S(t) for t = 1..periods: the share of a cohort still a customer after period t."""
    # S(t) = S(t - 1) (beta + t - 1) / (alpha + beta + t - 1): a product, so it stays positive
    # where 1 - sum(P) would cancel to nothing.
    out, s = [], 1.0
    for t in range(1, periods + 1):
        s *= (beta + t - 1) / (alpha + beta + t - 1)
        out.append(s)
    return out


def log_likelihood(alpha: float, beta: float, observed: list[float]) -> float:
    """The sBG log-likelihood of a survival curve (shares, so a cohort of size 1).

    Those lost in period t contribute log P(T = t); those still there after the last period
    contribute log S(n) (right-censored), each weighted by their share of the cohort.
    """
    n = len(observed)
    p = churn_probabilities(alpha, beta, n)
    previous = [1.0, *observed[:-1]]
    lost = [a - b for a, b in zip(previous, observed, strict=True)]
    s_n = survival(alpha, beta, n)[-1]
    ll = sum(w * math.log(q) for w, q in zip(lost, p, strict=True) if w > 0)
    return ll + observed[-1] * math.log(s_n)


@dataclass(frozen=True)
class SbgFit:
    alpha: float
    beta: float
    log_likelihood: float
    observed: list[float]

    @property
    def homogeneous(self) -> bool:
        """The fit ran to its bound: churn looks the same for every customer (geometric)."""
        return max(self.alpha, self.beta) > math.exp(LOG_BOUND) * 0.99

    def fitted(self) -> list[float]:
        return survival(self.alpha, self.beta, len(self.observed))

    def projected(self, periods: int) -> list[float]:
        """Survival for the ``periods`` periods after the observed ones."""
        n = len(self.observed)
        return survival(self.alpha, self.beta, n + periods)[n:]

    def expected_residual_lifetime(self, discount_rate: float) -> float:
        """Discounted expected residual lifetime of a customer still there after the data.

        Fader and Hardie (2010): for a customer who has made n - 1 renewals,
        DERL(d | alpha, beta, n - 1) = (beta + n - 1) / (alpha + beta + n - 1)
        * 2F1(1, beta + n; alpha + beta + n; 1 / (1 + d)), in periods, counting the period
        just renewed for. A customer still there after the k observed periods has renewed k
        times, so n = k + 1.
        """
        a, b, n, d = self.alpha, self.beta, len(self.observed) + 1, discount_rate
        return float((b + n - 1) / (a + b + n - 1) * hyp2f1(1, b + n, a + b + n, 1 / (1 + d)))

    def to_dict(self, periods: int, discount_rate: float | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "alpha": round(self.alpha, 6),
            "beta": round(self.beta, 6),
            "log_likelihood": round(self.log_likelihood, 6),
            "observed_survival": self.observed,
            "fitted_survival": [round(s, 6) for s in self.fitted()],
            "projected_survival": [round(s, 6) for s in self.projected(periods)],
        }
        if discount_rate is not None:
            out["discount_rate"] = discount_rate
            out["expected_residual_lifetime"] = round(
                self.expected_residual_lifetime(discount_rate), 6
            )
        return out


def check_survival(values: list[float]) -> None:
    """A survival curve: at least two shares in (0, 1], never rising."""
    if len(values) < 2:
        raise UsageError(
            f"--survival has {len(values)} value{'s' * (len(values) != 1)}",
            fix="give the share still a customer after each of at least 2 periods, "
            "e.g. --survival 0.869,0.743,0.653",
        )
    for i, v in enumerate(values, 1):
        if not 0 < v <= 1:
            raise UsageError(
                f"--survival value {i} ({v}) is not a share in (0, 1]",
                fix="write shares, e.g. 0.869 for 86.9%",
            )
        if i > 1 and v > values[i - 2]:
            raise UsageError(
                f"--survival value {i} ({v}) is above value {i - 1} ({values[i - 2]})",
                fix="survival never rises: each value is the share of the starting cohort "
                "still a customer after that period",
            )


def fit_sbg(observed: list[float]) -> SbgFit:
    """Maximum-likelihood alpha and beta for a survival curve (shares after periods 1..n)."""
    check_survival(observed)

    def negative(x: np.ndarray[Any, Any]) -> float:
        a, b = math.exp(x[0]), math.exp(x[1])
        try:
            return -log_likelihood(a, b, observed)
        except (ValueError, ZeroDivisionError, OverflowError):
            return math.inf

    # Search on log-parameters (both must be positive), from several starts for robustness.
    # Bounded: when every customer churns at the same rate the likelihood keeps rising as
    # alpha and beta grow together (the beta collapses to a point); the bound stops there.
    best = None
    for start in ((0.0, 0.0), (-1.0, 1.0), (1.0, 2.0)):
        res = minimize(negative, np.array(start), method="Nelder-Mead",
                       bounds=[(-LOG_BOUND, LOG_BOUND)] * 2,
                       options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000})  # fmt: skip
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    alpha, beta = math.exp(best.x[0]), math.exp(best.x[1])
    return SbgFit(alpha, beta, -float(best.fun), list(observed))


@dataclass(frozen=True)
class CohortFit:
    """The sBG fit of one signup cohort, or why there is none."""

    cohort: str
    accounts: int
    survival: list[float]  # share still a customer after month 1, 2, ... of the cohort
    fit: SbgFit | None
    reason: str | None = None

    def to_dict(self, periods: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cohort": self.cohort,
            "accounts": self.accounts,
            "observed_survival": [round(s, 6) for s in self.survival],
        }
        if self.fit is None:
            return out | {"alpha": None, "beta": None, "reason": self.reason}
        if self.fit.homogeneous:
            rate = self.fit.alpha / (self.fit.alpha + self.fit.beta)
            out["reason"] = f"constant churn {rate:.1%}/month: no spread between customers"
        return out | {
            "alpha": round(self.fit.alpha, 6),
            "beta": round(self.fit.beta, 6),
            "log_likelihood": round(self.fit.log_likelihood, 6),
            "projected_survival": [round(s, 6) for s in self.fit.projected(periods)],
        }


def cohort_survival(
    subscriptions: ir.Table, plans: ir.Table, through: dt.date
) -> dict[str, tuple[int, list[float]]]:
    """Per signup cohort (month of first payment): accounts, and the share still a customer
    (not yet churned for the first time) after each month fully observed by ``through``.
    """
    d = account_durations(subscriptions, plans, through)
    c = change_days(subscriptions, plans, through)
    out_days = c.filter((c.mrr_before > 0) & (c.mrr_after <= 0))
    first_out = out_days.group_by("account_id").aggregate(out=out_days.day.min())
    t = d.left_join(first_out, "account_id")
    churned = t.out.notnull()
    months = (
        (t.out.year() * 12 + t.out.month())
        - (t.first_paid.year() * 12 + t.first_paid.month())
        - (t.out.day() < t.first_paid.day()).cast("int64")
    )
    rows = (
        t.mutate(cohort=t.first_paid.truncate("M"), churned=churned, months=months)
        .group_by(["cohort", "churned", "months"])
        .aggregate(n=ibis._.count())
        .to_pyarrow()
        .to_pylist()
    )
    last = through.year * 12 + through.month - 1
    cohorts: dict[str, tuple[int, list[float]]] = {}
    for key in sorted({r["cohort"] for r in rows}):
        mine = [r for r in rows if r["cohort"] == key]
        total = sum(r["n"] for r in mine)
        observed = last - (key.year * 12 + key.month - 1)  # months fully behind us
        curve = [
            sum(r["n"] for r in mine if not r["churned"] or r["months"] > k) / total
            for k in range(1, observed + 1)
        ]
        cohorts[key.isoformat()[:7]] = (total, curve)
    return cohorts


def fit_cohorts(
    cohorts: dict[str, tuple[int, list[float]]], min_accounts: int = 10
) -> list[CohortFit]:
    """The sBG fit per cohort; cohorts too small, too young or without churn get a reason."""
    out = []
    for name, (accounts, curve) in cohorts.items():
        if accounts < min_accounts:
            out.append(
                CohortFit(name, accounts, curve, None, f"fewer than {min_accounts} accounts")
            )
        elif len(curve) < 2:
            out.append(CohortFit(name, accounts, curve, None, "fewer than 2 months observed"))
        elif curve[-1] >= 1:
            out.append(CohortFit(name, accounts, curve, None, "no churn yet: nothing to fit"))
        else:
            out.append(CohortFit(name, accounts, curve, fit_sbg(curve)))
    return out

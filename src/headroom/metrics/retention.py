"""The shifted-beta-geometric (sBG) retention model for contractual customers.

Fader, P. S. and Hardie, B. G. S. (2007), "How to Project Customer Retention", Journal of
Interactive Marketing 21(1): each customer renews each period with a probability of their own,
and those probabilities vary across customers as a beta(alpha, beta) distribution. Fitted by
maximum likelihood to a cohort's survival curve, it projects survival beyond the data and values
the customers still there (Fader and Hardie 2010, "Customer-Base Valuation in a Contractual
Setting: The Perils of Ignoring Heterogeneity", Marketing Science 29(1)).

>>> fit = fit_sbg([0.869, 0.743, 0.653, 0.593, 0.551, 0.517, 0.491])  # "high end", 7 years
>>> round(fit.alpha, 3), round(fit.beta, 3)
(0.668, 3.806)
>>> [round(s, 3) for s in fit.projected(3)]  # years 8, 9, 10
[0.46, 0.436, 0.414]
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import hyp2f1

from headroom.errors import UsageError
from headroom.metrics.options import COHORT_SIZE

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Bound on |log alpha| and |log beta| in the fit (alpha and beta within 1e-4 .. 1e4).
LOG_BOUND = math.log(1e4)

#: The most periods ``retention fit`` projects.
MAX_PERIODS = 1000


def churn_probabilities(alpha: float, beta: float, periods: int) -> list[float]:
    """P(T = t) for t = 1..periods: the share of a cohort lost in period t.

    Fader and Hardie (2007), equation (7): P(T = 1) = alpha / (alpha + beta) and
    P(T = t) = P(T = t - 1) (beta + t - 2) / (alpha + beta + t - 1).

    >>> churn_probabilities(1.0, 1.0, 3)  # alpha = beta = 1: P(T = t) = 1 / (t (t + 1))
    [0.5, 0.16666666666666666, 0.08333333333333333]
    """
    p = [alpha / (alpha + beta)]
    for t in range(2, periods + 1):
        p.append(p[-1] * (beta + t - 2) / (alpha + beta + t - 1))
    return p


def survival(alpha: float, beta: float, periods: int) -> list[float]:
    """S(t) for t = 1..periods: the share of a cohort still a customer after period t.

    Fader and Hardie (2007), equations (7) and (8): the retention rate of period t is
    (beta + t - 1) / (alpha + beta + t - 1), and S(t) is their product.

    >>> survival(1.0, 1.0, 3)  # alpha = beta = 1: S(t) = 1 / (t + 1)
    [0.5, 0.3333333333333333, 0.25]
    """
    # S(t) = S(t - 1) (beta + t - 1) / (alpha + beta + t - 1): a product, so it stays positive
    # where 1 - sum(P) would cancel to nothing.
    out, s = [], 1.0
    for t in range(1, periods + 1):
        s *= (beta + t - 1) / (alpha + beta + t - 1)
        out.append(s)
    return out


def log_likelihood(
    alpha: float, beta: float, observed: list[float], cohort_size: float = 1.0
) -> float:
    """The sBG log-likelihood of a survival curve, for a cohort of ``cohort_size`` customers.

    Fader and Hardie (2007): those lost in period t contribute
    log P(T = t) each, and those still there after the last period n are right-censored and
    contribute log S(n) each. The counts are the shares times ``cohort_size``, unrounded, so
    the size scales the log-likelihood but does not move its maximum.

    >>> round(log_likelihood(1.0, 1.0, [0.869, 0.743, 0.653, 0.593, 0.551, 0.517, 0.491]), 3)
    -2.116
    """
    n = len(observed)
    p = churn_probabilities(alpha, beta, n)
    previous = [1.0, *observed[:-1]]
    lost = [a - b for a, b in zip(previous, observed, strict=True)]
    s_n = survival(alpha, beta, n)[-1]
    ll = sum(w * math.log(q) for w, q in zip(lost, p, strict=True) if w > 0)
    return cohort_size * (ll + observed[-1] * math.log(s_n))


@dataclass(frozen=True)
class SbgFit:
    """Maximum-likelihood alpha and beta of one survival curve."""

    alpha: float
    beta: float
    log_likelihood: float  # at the maximum, for a cohort of ``cohort_size`` customers
    observed: list[float]
    cohort_size: float = COHORT_SIZE

    @property
    def homogeneous(self) -> bool:
        """The fit ran to its bound: churn looks the same for every customer (geometric)."""
        return max(self.alpha, self.beta) > math.exp(LOG_BOUND) * 0.99

    @property
    def churn_stops(self) -> bool:
        """The fit ran to its lower bound: the curve says churn stops after the first periods."""
        return min(self.alpha, self.beta) < math.exp(-LOG_BOUND) * 1.01

    def fitted(self) -> list[float]:
        return survival(self.alpha, self.beta, len(self.observed))

    def projected(self, periods: int) -> list[float]:
        """Survival for the ``periods`` periods after the observed ones."""
        n = len(self.observed)
        return survival(self.alpha, self.beta, n + periods)[n:]

    def expected_residual_lifetime(self, discount_rate: float) -> float:
        """Discounted expected residual lifetime (DERL) of a customer still there after the data.

        Fader and Hardie (2010), equation (6): for a customer who has made n - 1 renewals (so is
        in period n),

            DERL(d | alpha, beta, n - 1 renewals)
                = (beta + n - 1) / (alpha + beta + n - 1)
                  * 2F1(1, beta + n; alpha + beta + n; 1 / (1 + d)),

        in periods, counting the period being paid for now undiscounted and period t later at
        1 / (1 + d) ** t. It equals sum over t >= n of S(t) / S(n - 1) / (1 + d) ** (t - n).
        A customer still there after the k observed periods has just renewed for the k-th
        time, so n = k + 1. ``d`` is per period (annual for yearly contracts) and must be
        above 0: undiscounted, the expected lifetime is infinite whenever alpha <= 1.

        >>> fit = SbgFit(0.668, 3.806, 0.0, [0.869, 0.743, 0.653, 0.593, 0.551, 0.517, 0.491])
        >>> round(fit.expected_residual_lifetime(0.10), 2)
        7.53
        """
        check_discount_rate(discount_rate)
        a, b, n, d = self.alpha, self.beta, len(self.observed) + 1, discount_rate
        return float((b + n - 1) / (a + b + n - 1) * hyp2f1(1, b + n, a + b + n, 1 / (1 + d)))

    def to_dict(self, periods: int, discount_rate: float | None) -> dict[str, Any]:
        """The fit as ``retention fit --format json`` prints it."""
        check_periods(periods)
        out: dict[str, Any] = {
            "alpha": round(self.alpha, 6),
            "beta": round(self.beta, 6),
            "log_likelihood": round(self.log_likelihood, 6),
            "cohort_size": self.cohort_size,
            "periods_observed": len(self.observed),
            "observed_survival": self.observed,
            "fitted_survival": [round(s, 6) for s in self.fitted()],
            "projected_survival": [round(s, 6) for s in self.projected(periods)],
        }
        if self.homogeneous:
            out["note"] = homogeneous_note(self)
        elif self.churn_stops:
            out["note"] = CHURN_STOPS
        if discount_rate is not None:
            out["discount_rate"] = discount_rate
            out["expected_residual_lifetime"] = round(
                self.expected_residual_lifetime(discount_rate), 6
            )
        return out


CHURN_STOPS = "churn stops in the data: the fit is at its bound and projects no more churn"


def homogeneous_note(fit: SbgFit, period: str = "period") -> str:
    """What a fit that ran to its bound means: one churn rate for every customer."""
    rate = fit.alpha / (fit.alpha + fit.beta)
    return f"constant churn {rate:.1%} per {period}: no spread between customers"


def check_periods(periods: int) -> None:
    """A number of periods to project: 0 to :data:`MAX_PERIODS`."""
    if not 0 <= periods <= MAX_PERIODS:
        raise UsageError(
            f"--periods {periods} is outside 0 to {MAX_PERIODS}",
            fix="pass how many periods to project after the data, e.g. --periods 12",
        )


def check_discount_rate(discount_rate: float) -> None:
    """A per-period discount rate for the DERL: above 0, at most 1."""
    if not 0 < discount_rate <= 1:
        raise UsageError(
            f"--discount-rate {discount_rate:g} is outside 0 (excluded) to 1",
            fix="pass a rate per period as a share, e.g. --discount-rate 0.10 (without "
            "discounting the expected lifetime can be infinite)",
        )


def check_cohort_size(cohort_size: float) -> None:
    """A cohort size: at least one customer."""
    if not cohort_size >= 1:
        raise UsageError(
            f"--cohort-size {cohort_size:g} is not a cohort",
            fix="pass how many customers started, e.g. --cohort-size 1000",
        )


def check_survival(values: list[float]) -> None:
    """A survival curve: at least two shares in (0, 1], never rising, and falling somewhere."""
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
    if values[-1] >= 1:
        raise UsageError(
            "--survival never falls below 1: nobody churned, there is nothing to fit",
            fix="pass a curve with some churn, e.g. --survival 0.869,0.743,0.653",
        )


def fit_sbg(observed: list[float], cohort_size: float = COHORT_SIZE) -> SbgFit:
    """Maximum-likelihood alpha and beta for a survival curve (shares after periods 1..n).

    The shares are taken as those of a cohort of ``cohort_size`` customers, unrounded: the
    size scales the reported log-likelihood, never alpha and beta.

    >>> fit = fit_sbg([0.631, 0.468, 0.382, 0.326, 0.289, 0.262, 0.241])  # "regular"
    >>> round(fit.alpha, 3), round(fit.beta, 3)
    (0.704, 1.182)
    """
    check_survival(observed)
    check_cohort_size(cohort_size)

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
    return SbgFit(alpha, beta, -cohort_size * float(best.fun), list(observed), cohort_size)


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
            out["reason"] = homogeneous_note(self.fit, "month")
        elif self.fit.churn_stops:
            out["reason"] = CHURN_STOPS
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
    # here, not at the top: `headroom retention fit` needs scipy, not ibis and a source
    import ibis

    from headroom.metrics.expansion import change_days
    from headroom.metrics.time_to_expansion import account_durations

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
            out.append(CohortFit(name, accounts, curve, fit_sbg(curve, accounts)))
    return out

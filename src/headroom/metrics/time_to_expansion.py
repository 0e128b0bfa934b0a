"""Time to expansion: the days from an account's first payment to its first expansion,
estimated with Kaplan-Meier (an account that churns, or has not expanded yet, is censored),
with a 95% interval, for all paying accounts or per group as at the first payment.

The expansions themselves, and the MRR changes they are read from, are in
:mod:`headroom.metrics.expansion`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import ibis
import ibis.expr.types as ir

from headroom.errors import UsageError
from headroom.metrics.expansion import Tables, change_days, in_force, plan_rows, source_tables
from headroom.metrics.options import MILESTONES, Grouping
from headroom.metrics.revenue import account_owner

#: What time to expansion can be split by (the account's state at its first payment).
SURVIVAL_GROUPS = tuple(g.value for g in Grouping)


def account_durations(
    subscriptions: ir.Table, plans: ir.Table | None, through: dt.date
) -> ir.Table:
    """Per account that paid by ``through``: days from first payment to first expansion, or
    to censoring at churn (the first day its MRR falls to 0 after paying) or at ``through``.

    Columns: account_id, first_paid, days, expanded (bool).
    """
    c = change_days(subscriptions, plans, through)
    paid = c.filter(c.mrr_after > 0)
    first = paid.group_by("account_id").aggregate(first_paid=paid.day.min())
    c = c.inner_join(first, "account_id")
    later = c.filter(c.day > c.first_paid)
    expanded = later.filter((later.mrr_before > 0) & (later.mrr_after > later.mrr_before))
    churned = later.filter((later.mrr_before > 0) & (later.mrr_after <= 0))
    first_up = expanded.group_by("account_id").aggregate(up=expanded.day.min())
    first_out = churned.group_by("account_id").aggregate(out=churned.day.min())
    t = first.left_join(first_up, "account_id").left_join(first_out, "account_id")
    # Expanded when the first expansion comes before the first churn.
    is_up = t.up.notnull() & (t.out.isnull() | (t.up < t.out))
    stop = ibis.cases((is_up, t.up), (t.out.notnull(), t.out), else_=ibis.literal(through))
    return t.select(
        "account_id",
        "first_paid",
        days=stop.delta(t.first_paid, unit="day"),
        expanded=is_up,
    )


@dataclass(frozen=True)
class TimeToExpansion:
    """Kaplan-Meier estimate of the days from first payment to first expansion, one group."""

    group: str
    accounts: int
    expanded: int
    censored: int
    median_days: float | None  # None: fewer than half expanded within the data
    curve: list[tuple[int, float]]  # (days, share not yet expanded)
    #: share expanded by 90, 180 and 365 days; None past the longest observed duration
    expanded_by: dict[int, float | None] = field(default_factory=dict)
    #: (days, low, high): the 95% confidence interval of the share not yet expanded at each
    #: point of ``curve`` (lifelines' exponential Greenwood interval)
    band: list[tuple[int, float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "group": self.group,
            "accounts": self.accounts,
            "expanded": self.expanded,
            "censored": self.censored,
            "median_days": self.median_days,
            "median_reached": self.median_days is not None,
        }
        if self.median_days is None:
            out["median_note"] = (
                "not reached: fewer than half of these accounts are estimated to have "
                "expanded within the data"
            )
        for days, share in self.expanded_by.items():
            out[f"expanded_by_{days}d"] = None if share is None else round(share, 6)
        out["curve"] = [{"days": d, "not_yet_expanded": round(s, 6)} for d, s in self.curve]
        return out


def kaplan_meier(
    durations: Sequence[tuple[str, int, bool]], step: int = 30
) -> TimeToExpansion | None:
    """Fit Kaplan-Meier (lifelines) to one group's (group, days, expanded) rows.

    The curve has a point every ``step`` days from 0 to the longest duration, each with its 95%
    confidence interval in ``band``. None for no rows.
    """
    import numpy as np
    from lifelines import KaplanMeierFitter  # imported here: it loads pandas and matplotlib

    if not durations:
        return None
    group = durations[0][0]
    days = [max(int(d), 0) for _, d, _ in durations]
    observed = [bool(e) for _, _, e in durations]
    kmf = KaplanMeierFitter()
    kmf.fit(days, event_observed=observed)
    median = float(kmf.median_survival_time_)
    points = list(range(0, max(days) + 1, step))
    values = kmf.survival_function_at_times(points).to_numpy().tolist()
    marks = kmf.survival_function_at_times(list(MILESTONES)).to_numpy().tolist()
    expanded_by = {
        t: None if t > max(days) else 1 - float(v) for t, v in zip(MILESTONES, marks, strict=True)
    }
    # The interval is a step function on the fit's timeline (which starts at 0): each point
    # takes the step in force on its day, as survival_function_at_times does for the estimate.
    ci = kmf.confidence_interval_survival_function_
    at = np.searchsorted(ci.index.to_numpy(dtype=float), points, side="right") - 1
    lows, highs = ci.iloc[:, 0].to_numpy()[at], ci.iloc[:, 1].to_numpy()[at]
    band = [
        # Undefined where the estimate is 0 or 1 with nothing at risk: the estimate itself.
        (t, float(lo) if math.isfinite(lo) else v, float(hi) if math.isfinite(hi) else v)
        for t, v, lo, hi in zip(points, values, lows.tolist(), highs.tolist(), strict=True)
    ]
    return TimeToExpansion(
        group=group,
        accounts=len(days),
        expanded=sum(observed),
        censored=len(days) - sum(observed),
        median_days=None if math.isinf(median) else median,
        curve=list(zip(points, [float(v) for v in values], strict=True)),
        expanded_by=expanded_by,
        band=band,
    )


def _survival_groups(
    durations: ir.Table,
    subscriptions: ir.Table,
    plans: ir.Table | None,
    accounts: ir.Table | None,
    by: str,
) -> ir.Table:
    """``durations`` with a ``group`` column: the account's state at its first payment."""
    d = durations
    if by == "cohort":
        return d.mutate(group=d.first_paid.truncate("M").strftime("%Y-%m-%d"))
    if by == "plan":
        # The top plan in force on the first day it paid, not today's (which expansion changed).
        rows = plan_rows(subscriptions, plans)
        on = d.select(account_id="account_id", day="first_paid")
        start = in_force(on, rows, 0).select(g_account="account_id", group="plan")
        return d.left_join(start, d.account_id == start.g_account).drop("g_account")
    if accounts is None:
        return d.mutate(group=ibis.null("string"))
    value = account_owner(accounts) if by == "owner" else accounts[by]
    attrs = accounts.select(g_account="account_id", group=value)
    return d.left_join(attrs, d.account_id == attrs.g_account).drop("g_account")


def check_survival_options(by: str | None, step: int) -> None:
    """A UsageError for a grouping time to expansion cannot split by, or a step below 1 day."""
    if by is not None and by not in SURVIVAL_GROUPS:
        raise UsageError(
            f"--by {by!r} is not a grouping for time to expansion",
            fix=f"use one of {', '.join(SURVIVAL_GROUPS)}",
        )
    if step < 1:
        raise UsageError(
            f"--step must be at least 1 day, got {step}",
            fix="pass the days between the curve's points, e.g. --step 30",
        )


@overload
def time_to_expansion(
    source: Sequence[tuple[str, int, bool]], *, step: int = 30
) -> TimeToExpansion | None: ...


@overload
def time_to_expansion(
    source: Tables, through: dt.date, by: str | None = None, *, step: int = 30
) -> list[TimeToExpansion]: ...


def time_to_expansion(
    source: Tables | Sequence[tuple[str, int, bool]],
    through: dt.date | None = None,
    by: str | None = None,
    *,
    step: int = 30,
) -> list[TimeToExpansion] | TimeToExpansion | None:
    """Days from first payment to first expansion, censored at churn or at ``through``.

    ``time_to_expansion(source, through, by=None)``: one Kaplan-Meier fit of all paying
    accounts, then with ``by`` (segment, plan, owner or cohort, each as at the first payment)
    one fit per group in group order. Durations come from the engine, one row per account.

    ``time_to_expansion(durations, step=...)`` fits given (group, days, expanded) rows: the same
    as :func:`kaplan_meier`, kept for callers written against it.
    """
    if isinstance(source, Sequence):
        return kaplan_meier(source, step)
    if through is None:
        raise TypeError("time_to_expansion(source, through): through is required")
    check_survival_options(by, step)
    subscriptions, plans, accounts = source_tables(source)
    durations = account_durations(subscriptions, plans, through)
    if by is not None:
        durations = _survival_groups(durations, subscriptions, plans, accounts, by)
        durations = durations.mutate(group=durations.group.nullif("").fill_null("(none)"))
    else:
        durations = durations.mutate(group=ibis.literal("all"))
    rows = durations.select("group", "days", "expanded").to_pyarrow().to_pylist()
    whole = [("all", int(r["days"]), bool(r["expanded"])) for r in rows]
    fits = [kaplan_meier(whole, step)]
    if by is not None:
        groups: dict[str, list[tuple[str, int, bool]]] = {}
        for r in rows:
            groups.setdefault(r["group"], []).append((r["group"], r["days"], r["expanded"]))
        fits += [kaplan_meier(groups[name], step) for name in sorted(groups)]
    return [f for f in fits if f is not None]

"""Net and gross revenue retention over any window, by group, and as monthly series.

Definitions (CLI.md): the cohort of a window is the accounts with MRR > 0 in its start month.
``nrr`` = their MRR in the end month / their MRR in the start month; ``grr`` = the same with
each account's end MRR capped at its start MRR. New accounts of the window never count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.errors import UsageError
from headroom.metrics.options import Grouping, MonthConvention
from headroom.metrics.revenue import account_month_mrr, account_owner, add_months, month_spine

GROUPINGS = tuple(g.value for g in Grouping)


@dataclass(frozen=True)
class Retention:
    """NRR and GRR of one cohort (the whole base or one group of it)."""

    start: dt.date
    end: dt.date
    starting_mrr: Decimal
    ending_mrr: Decimal
    retained_mrr: Decimal  # end MRR capped at start MRR per account
    accounts: int
    group: str | None = None

    @property
    def nrr(self) -> float | None:
        return float(self.ending_mrr / self.starting_mrr) if self.starting_mrr else None

    @property
    def grr(self) -> float | None:
        return float(self.retained_mrr / self.starting_mrr) if self.starting_mrr else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.group is None else {"group": self.group}
        out |= {
            "start": self.start.isoformat()[:7],
            "end": self.end.isoformat()[:7],
            "starting_mrr": self.starting_mrr,
            "ending_mrr": self.ending_mrr,
            "nrr": None if self.nrr is None else round(self.nrr, 6),
            "grr": None if self.grr is None else round(self.grr, 6),
            "accounts": self.accounts,
        }
        return out


def _per_month(
    subscriptions: ir.Table, first: dt.date, last: dt.date, convention: MonthConvention
) -> ir.Table:
    return account_month_mrr(subscriptions, month_spine(first, last), convention)


def first_payment_month(subscriptions: ir.Table) -> ir.Table:
    """Per account, the month of its first payment (first day with MRR > 0), as ``cohort``."""
    paid = subscriptions.filter(subscriptions.mrr > 0)
    return paid.group_by("account_id").aggregate(cohort=paid.start_date.min().truncate("M"))


def plan_in_force(subscriptions: ir.Table, plans: ir.Table, day: dt.date) -> ir.Table:
    """Per account, the highest-ranked plan among its rows in force on ``day``."""
    d = ibis.literal(day)
    s = subscriptions.filter(
        (subscriptions.start_date <= d)
        & (subscriptions.end_date.isnull() | (subscriptions.end_date > d))
        & (subscriptions.mrr > 0)
    )
    ranked = s.left_join(plans.select("plan", "rank"), "plan")
    return ranked.group_by("account_id").aggregate(
        plan=ranked.plan.argmax(ibis.coalesce(ranked["rank"], 0))
    )


def retention(
    subscriptions: ir.Table,
    start: dt.date,
    end: dt.date,
    *,
    accounts: ir.Table | None = None,
    plans: ir.Table | None = None,
    by: str | None = None,
    convention: MonthConvention = MonthConvention.first_day,
) -> list[Retention]:
    """NRR/GRR from month ``start`` to month ``end``; with ``by``, one entry per group.

    The first entry is always the whole cohort; groups follow in their natural order.
    """
    if end <= start:
        raise UsageError(
            f"--end {end.isoformat()[:7]} is not after --start {start.isoformat()[:7]}",
            fix="NRR compares a later month with an earlier one; pass an --end after --start",
        )
    if by is not None and by not in GROUPINGS:
        raise UsageError(f"--by {by!r} is not a grouping", fix=f"use one of {', '.join(GROUPINGS)}")
    per_month = _per_month(subscriptions, start, end, convention)
    at_start = per_month.filter((per_month.month == start) & (per_month.mrr > 0)).select(
        "account_id", start_mrr=per_month.mrr
    )
    at_end = per_month.filter(per_month.month == end).select(
        end_account=per_month.account_id, end_mrr=per_month.mrr
    )
    zero = ibis.literal(0).cast(per_month.mrr.type())
    joined = at_start.left_join(at_end, at_start.account_id == at_end.end_account)
    cohort = joined.select("account_id", "start_mrr", end_mrr=ibis.coalesce(joined.end_mrr, zero))
    if by is None:
        cohort = cohort.mutate(group=ibis.literal("all"))
    elif by == "plan":
        if plans is None:
            raise UsageError("--by plan needs the plans", fix="pass the source's plans table")
        attrs = plan_in_force(subscriptions, plans, start)
        cohort = cohort.left_join(attrs, "account_id").mutate(group=ibis._.plan)
    elif by == "cohort":
        attrs = first_payment_month(subscriptions)
        cohort = cohort.left_join(attrs, "account_id").mutate(
            group=ibis._.cohort.cast("string").left(7)
        )
    else:
        if accounts is None:
            raise UsageError(f"--by {by} needs accounts", fix="pass the source's accounts table")
        value = account_owner(accounts) if by == "owner" else accounts[by]
        attrs = accounts.select("account_id", group=value)
        cohort = cohort.left_join(attrs, "account_id")
    cohort = cohort.mutate(group=ibis.coalesce(cohort.group.cast("string"), "(none)"))
    grouped = cohort.group_by("group").aggregate(
        starting_mrr=cohort.start_mrr.sum(),
        ending_mrr=cohort.end_mrr.sum(),
        retained_mrr=ibis.least(cohort.end_mrr, cohort.start_mrr).sum(),
        accounts=cohort.count(),
    )
    rows = grouped.order_by("group").to_pyarrow().to_pylist()
    out = [_retention(start, end, rows, None)]
    if by is not None:
        out += [_retention(start, end, [r], str(r["group"])) for r in rows]
    return out


def _retention(
    start: dt.date, end: dt.date, rows: list[dict[str, Any]], group: str | None
) -> Retention:
    def total(key: str) -> Decimal:
        return sum((Decimal(r[key] or 0) for r in rows), Decimal(0))

    return Retention(
        start=start,
        end=end,
        starting_mrr=total("starting_mrr"),
        ending_mrr=total("ending_mrr"),
        retained_mrr=total("retained_mrr"),
        accounts=int(sum(r["accounts"] for r in rows)),
        group=group,
    )


def retention_series(
    subscriptions: ir.Table,
    first: dt.date,
    last: dt.date,
    *,
    window_months: int = 1,
    convention: MonthConvention = MonthConvention.first_day,
) -> ir.Table:
    """NRR and GRR for every month from ``first`` to ``last``, each over the window before it.

    ``window_months=1`` gives month-over-month rates, 12 trailing-twelve-month rates. Columns:
    month, starting_mrr, ending_mrr, nrr, grr, accounts (of the cohort).
    """
    per_month = _per_month(subscriptions, add_months(first, -window_months), last, convention)
    base = per_month.filter(per_month.mrr > 0)
    later = per_month.select(
        l_account=per_month.account_id,
        l_index=per_month.month_index,
        l_month=per_month.month,
        l_mrr=per_month.mrr,
    )
    spine = month_spine(add_months(first, -window_months), last)
    targets = spine.select(e_index=spine.month_index, e_month=spine.month)
    ends = base.inner_join(targets, targets.e_index == base.month_index + window_months)
    joined = ends.left_join(
        later, (ends.account_id == later.l_account) & (ends.e_index == later.l_index)
    )
    zero = ibis.literal(0).cast(per_month.mrr.type())
    end_mrr = ibis.coalesce(joined.l_mrr, zero)
    grouped = joined.group_by(month=joined.e_month).aggregate(
        starting_mrr=joined.mrr.sum(),
        ending_mrr=end_mrr.sum(),
        retained=ibis.least(end_mrr, joined.mrr).sum(),
        accounts=joined.count(),
    )
    grouped = grouped.filter(grouped.month >= first)
    return grouped.select(
        "month",
        "starting_mrr",
        "ending_mrr",
        nrr=(grouped.ending_mrr / grouped.starting_mrr).cast("float64").round(6),
        grr=(grouped.retained / grouped.starting_mrr).cast("float64").round(6),
        accounts=grouped.accounts,
    ).order_by("month")

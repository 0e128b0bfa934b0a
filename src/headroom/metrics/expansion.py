"""Expansions at day precision, expansion ARR by group, time to expansion, money in the gap.

An expansion is a day on which an account's daily MRR rises while it was already paying the
day before. Daily MRR only changes on the days rows start or end, so only those days are
looked at: for each, the rows in force that day and the day before, in one pass over all
accounts in the engine.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.errors import UsageError
from headroom.metrics.nrr import first_payment_month
from headroom.sources import Source

GROUPS = ("segment", "plan", "owner", "cohort", "kind")


def _in_force(days: ir.Table, rows: ir.Table, shift: int) -> ir.Table:
    """Per (account, day): MRR, seats and top plan rank of the rows in force ``shift`` days on."""
    on = days.day + ibis.interval(days=shift) if shift else days.day
    joined = days.inner_join(
        rows,
        (days.account_id == rows.r_account)
        & (rows.r_start <= on)
        & (rows.r_end.isnull() | (rows.r_end > on)),
    )
    return joined.group_by(["account_id", "day"]).aggregate(
        mrr=joined.r_mrr.sum(),
        seats=joined.r_seats.sum(),
        rank=joined.r_rank.max(),
        plan=joined.r_plan.argmax(joined.r_rank),
    )


def change_days(subscriptions: ir.Table, plans: ir.Table, through: dt.date) -> ir.Table:
    """Per account and day on which its rows change: the state before and after.

    Columns: account_id, day, mrr_before, mrr_after, seats_before, seats_after, rank_before,
    rank_after, plan_after.
    """
    s = subscriptions
    starts = s.select("account_id", day=s.start_date)
    ends = s.filter(s.end_date.notnull()).select("account_id", day=s.end_date)
    days = starts.union(ends, distinct=True)
    days = days.filter(days.day <= ibis.literal(through))
    ranked = s.left_join(plans.select("plan", "rank"), "plan")
    rows = ranked.select(
        r_account=ranked.account_id,
        r_start=ranked.start_date,
        r_end=ranked.end_date,
        r_mrr=ranked.mrr,
        r_seats=ibis.coalesce(ranked.seats, 0),
        r_rank=ibis.coalesce(ranked["rank"], 0),
        r_plan=ranked.plan,
    )
    after = _in_force(days, rows, 0)
    before = _in_force(days, rows, -1).select(
        b_account="account_id",
        b_day="day",
        mrr_before="mrr",
        seats_before="seats",
        rank_before="rank",
    )
    joined = (
        days.left_join(after, ["account_id", "day"])
        .select("account_id", "day", "mrr", "seats", "rank", "plan")
        .left_join(before, (ibis._.account_id == before.b_account) & (ibis._.day == before.b_day))
    )
    zero = ibis.literal(0).cast(s.mrr.type())
    return joined.select(
        "account_id",
        "day",
        mrr_before=ibis.coalesce(joined.mrr_before, zero),
        mrr_after=ibis.coalesce(joined.mrr, zero),
        seats_before=ibis.coalesce(joined.seats_before, 0),
        seats_after=ibis.coalesce(joined.seats, 0),
        rank_before=ibis.coalesce(joined.rank_before, 0),
        rank_after=ibis.coalesce(joined["rank"], 0),
        plan_after=joined.plan,
    )


def expansion_events(
    subscriptions: ir.Table, plans: ir.Table, accounts: ir.Table, through: dt.date
) -> ir.Table:
    """Every expansion: account_id, date, mrr_before, mrr_after, delta_mrr, kind, and the
    account's segment, plan (after), csm, ae, owner (csm, else ae) and cohort (first payment
    month) for grouping. ``kind`` is ``tier`` when the top plan rank rose, else ``seats`` when
    seats rose, else ``price``.
    """
    c = change_days(subscriptions, plans, through)
    up = c.filter((c.mrr_before > 0) & (c.mrr_after > c.mrr_before))
    kind = ibis.cases(
        (up.rank_after > up.rank_before, "tier"),
        (up.seats_after > up.seats_before, "seats"),
        else_="price",
    )
    events = up.select(
        "account_id",
        date=up.day,
        mrr_before=up.mrr_before,
        mrr_after=up.mrr_after,
        delta_mrr=up.mrr_after - up.mrr_before,
        kind=kind,
        plan=up.plan_after,
    )
    people = accounts.select("account_id", "segment", "csm", "ae")
    cohorts = first_payment_month(subscriptions)
    joined = events.left_join(people, "account_id").left_join(cohorts, "account_id")
    return joined.select(
        "account_id",
        "date",
        "mrr_before",
        "mrr_after",
        "delta_mrr",
        "kind",
        "plan",
        "segment",
        "csm",
        "ae",
        owner=ibis.coalesce(joined.csm, joined.ae, ibis.literal("(none)")),
        cohort=joined.cohort,
    )


def source_expansions(source: Source, through: dt.date) -> ir.Table:
    """:func:`expansion_events` of a loaded source."""
    return expansion_events(
        source.table("subscriptions"), source.table("plans"), source.table("accounts"), through
    )


def expansion_arr(events: ir.Table, by: str) -> ir.Table:
    """Expansions, accounts, expansion MRR and ARR (12 x MRR) per group of ``by``."""
    if by not in GROUPS:
        raise UsageError(f"--by {by!r} is not a grouping", fix=f"use one of {', '.join(GROUPS)}")
    key = events[by].cast("string").fill_null("(none)")
    if by == "cohort":
        key = key.left(7)
    e = events.mutate(group=key)
    grouped = e.group_by("group").aggregate(
        expansions=e.count(),
        accounts=e.account_id.nunique(),
        expansion_mrr=e.delta_mrr.sum(),
    )
    return grouped.mutate(expansion_arr=grouped.expansion_mrr * 12).order_by("group")


def account_durations(subscriptions: ir.Table, plans: ir.Table, through: dt.date) -> ir.Table:
    """Per paying account: days from first payment to first expansion, or to censoring.

    Censored at churn (the first day its MRR falls to 0 after paying) or at ``through``.
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
    end_day = ibis.literal(through)
    # Expanded if the first expansion comes before any churn.
    is_up = t.up.notnull() & (t.out.isnull() | (t.up < t.out))
    stop = ibis.cases((is_up, t.up), (t.out.notnull(), t.out), else_=end_day)
    return t.select(
        "account_id",
        "first_paid",
        days=stop.delta(t.first_paid, unit="day"),
        expanded=is_up,
    )


@dataclass(frozen=True)
class TimeToExpansion:
    """Kaplan-Meier estimate of the days from first payment to first expansion."""

    group: str
    accounts: int
    expanded: int
    censored: int
    median_days: float | None  # None: fewer than half expanded within the data
    curve: list[tuple[int, float]]  # (days, share not yet expanded)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "accounts": self.accounts,
            "expanded": self.expanded,
            "censored": self.censored,
            "median_days": self.median_days,
            "median_reached": self.median_days is not None,
            "curve": [{"days": d, "not_yet_expanded": round(s, 6)} for d, s in self.curve],
        }


def time_to_expansion(
    durations: list[tuple[str, int, bool]], step: int = 30
) -> TimeToExpansion | None:
    """Fit Kaplan-Meier to (group, days, expanded) rows of one group (lifelines)."""
    from lifelines import KaplanMeierFitter  # imported here: it loads pandas and matplotlib

    if not durations:
        return None
    group = durations[0][0]
    days = [max(d, 0) for _, d, _ in durations]
    observed = [e for _, _, e in durations]
    kmf = KaplanMeierFitter()
    kmf.fit(days, event_observed=observed)
    median = float(kmf.median_survival_time_)
    horizon = max(days)
    points = list(range(0, horizon + 1, step))
    values = kmf.survival_function_at_times(points).to_numpy().tolist()
    return TimeToExpansion(
        group=group,
        accounts=len(days),
        expanded=sum(observed),
        censored=len(days) - sum(observed),
        median_days=None if math.isinf(median) else median,
        curve=list(zip(points, [float(v) for v in values], strict=True)),
    )


@dataclass(frozen=True)
class Gap:
    months_earlier: int
    revenue_in_gap: Decimal
    expansions: int
    by_segment: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "months_earlier": self.months_earlier,
            "revenue_in_gap": self.revenue_in_gap,
            "expansions": self.expansions,
            "by_segment": self.by_segment,
        }


def revenue_in_gap(
    events: ir.Table, subscriptions: ir.Table, plans: ir.Table, months_earlier: int,
    through: dt.date,
) -> Gap:  # fmt: skip
    """What the real expansions would have added had each come ``months_earlier`` sooner.

    Each adds its MRR x min(N, whole months from the account's first payment to it): an
    expansion cannot move before the account started paying.
    """
    if not 1 <= months_earlier <= 120:
        raise UsageError(
            f"--months-earlier {months_earlier} is out of range",
            fix="pass a whole number of months from 1 to 120, e.g. --months-earlier 3",
        )
    first = account_durations(subscriptions, plans, through).select(
        f_account="account_id", first_paid="first_paid"
    )
    e = events.inner_join(first, events.account_id == first.f_account)
    # Whole calendar months from the first payment to the expansion.
    months_there = (
        (e.date.year() * 12 + e.date.month())
        - (e.first_paid.year() * 12 + e.first_paid.month())
        - (e.date.day() < e.first_paid.day()).cast("int64")
    )
    moved = ibis.least(months_there, months_earlier)
    e = e.mutate(extra=e.delta_mrr * moved, segment=e.segment.fill_null("(none)"))
    grouped = e.group_by("segment").aggregate(revenue_in_gap=e.extra.sum(), expansions=e.count())
    rows = grouped.order_by("segment").to_pyarrow().to_pylist()
    by_segment = [
        {
            "segment": r["segment"],
            "revenue_in_gap": Decimal(r["revenue_in_gap"] or 0),
            "expansions": r["expansions"],
        }
        for r in rows
    ]
    return Gap(
        months_earlier,
        sum((r["revenue_in_gap"] for r in by_segment), Decimal(0)),
        sum(r["expansions"] for r in by_segment),
        by_segment,
    )

"""Expansions at day precision, expansion ARR by group, and time to expansion.

An expansion is a day on which an account's daily MRR rises while it was already paying the
day before (MRR > 0). Daily MRR only changes on the days rows start or end (DATA.md: the MRR on
day d sums the rows with start_date <= d < end_date), so only those days are looked at: for each
account and each of its change days, the rows in force that day and the day before, in one pass
over all accounts in the engine.

Its kind, first rule that matches:

``tier``
    the highest plan rank in force rose. Without ranks (no plans table, or a plan it does not
    rank) a plan name in force that was not in force the day before counts as a new tier;
``seats``
    the seats in force rose;
``price``
    otherwise (the same plan and seats at a higher price, or an add-on without seats).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import ibis
import ibis.expr.types as ir

from headroom.errors import UsageError
from headroom.metrics.options import MILESTONES, ExpansionGrouping, Grouping
from headroom.metrics.revenue import account_owner
from headroom.sources import Source

#: What expansion ARR can be grouped by.
GROUPS = tuple(g.value for g in ExpansionGrouping)
#: What time to expansion can be split by (the account's state at its first payment).
SURVIVAL_GROUPS = tuple(g.value for g in Grouping)

#: A loaded source, or its tables by contract name (subscriptions; plans and accounts optional).
Tables = Source | Mapping[str, ir.Table]


def _parts(source: Tables) -> tuple[ir.Table, ir.Table | None, ir.Table | None]:
    """subscriptions, plans (None when absent) and accounts (None when absent)."""
    if isinstance(source, Source):
        plans = source.table("plans") if source.has("plans") else None
        return source.table("subscriptions"), plans, source.table("accounts")
    return source["subscriptions"], source.get("plans"), source.get("accounts")


def _rows(subscriptions: ir.Table, plans: ir.Table | None) -> ir.Table:
    """Subscription rows with the rank of their plan (null when unknown), renamed for joins."""
    s = subscriptions
    if plans is not None:
        p = plans.select(p_plan="plan", p_rank="rank")
        ranked = s.left_join(p, s.plan == p.p_plan)
        rank = ranked.p_rank.cast("int64")
    else:
        ranked, rank = s, ibis.null("int64")
    return ranked.select(
        r_account=ranked.account_id,
        r_start=ranked.start_date,
        r_end=ranked.end_date,
        r_mrr=ranked.mrr,
        r_seats=ibis.coalesce(ranked.seats, 0),
        r_rank=rank,
        r_plan=ranked.plan,
    )


def _in_force(days: ir.Table, rows: ir.Table, shift: int) -> ir.Table:
    """Per (account, day): MRR, seats, top plan rank and top plan of the rows in force
    ``shift`` days on. Pairs with no row in force are absent."""
    on = days.day + ibis.interval(days=shift) if shift else days.day
    joined = days.inner_join(
        rows,
        (days.account_id == rows.r_account)
        & (rows.r_start <= on)
        & (rows.r_end.isnull() | (rows.r_end > on)),
    )
    # The plan shown is the highest-ranked one; among equals (or without ranks) the dearest.
    order = ibis.coalesce(joined.r_rank, -1).cast("float64") * 1e12 + joined.r_mrr.cast("float64")
    return joined.group_by(["account_id", "day"]).aggregate(
        mrr=joined.r_mrr.sum(),
        seats=joined.r_seats.sum(),
        rank=joined.r_rank.max(),
        plan=joined.r_plan.argmax(order),
    )


def _new_plan_days(rows: ir.Table, through: dt.date) -> ir.Table:
    """(account_id, day) where a row starts with a plan name not in force the day before."""
    starting = rows.filter(rows.r_plan.notnull() & (rows.r_start <= ibis.literal(through)))
    starting = starting.select(n_account="r_account", n_day="r_start", n_plan="r_plan")
    prev = rows.select(q_account="r_account", q_start="r_start", q_end="r_end", q_plan="r_plan")
    new = starting.anti_join(
        prev,
        (starting.n_account == prev.q_account)
        & (starting.n_plan == prev.q_plan)
        & (prev.q_start < starting.n_day)
        & (prev.q_end.isnull() | (prev.q_end >= starting.n_day)),
    )
    return new.select(f_account="n_account", f_day="n_day", new_plan=ibis.literal(True)).distinct()


def change_days(subscriptions: ir.Table, plans: ir.Table | None, through: dt.date) -> ir.Table:
    """Per account and day on which its rows change (through ``through``): before and after.

    Columns: account_id, day, mrr_before, mrr_after (0 when nothing is in force),
    seats_before, seats_after, rank_before, rank_after (null when unknown), plan_after, and
    new_plan (a plan name in force that was not the day before).
    """
    s = subscriptions
    starts = s.select("account_id", day=s.start_date)
    ends = s.filter(s.end_date.notnull()).select("account_id", day=s.end_date)
    days = starts.union(ends, distinct=True)
    days = days.filter(days.day <= ibis.literal(through))
    rows = _rows(s, plans)
    after = _in_force(days, rows, 0)
    before = _in_force(days, rows, -1).select(
        b_account="account_id",
        b_day="day",
        mrr_before="mrr",
        seats_before="seats",
        rank_before="rank",
    )
    new_plan = _new_plan_days(rows, through)
    state = days.left_join(after, ["account_id", "day"]).select(
        "account_id", "day", "mrr", "seats", "rank", "plan"
    )
    state = state.left_join(
        before, (state.account_id == before.b_account) & (state.day == before.b_day)
    ).drop("b_account", "b_day")
    joined = state.left_join(
        new_plan, (state.account_id == new_plan.f_account) & (state.day == new_plan.f_day)
    )
    zero = ibis.literal(0).cast(s.mrr.type())
    return joined.select(
        "account_id",
        "day",
        mrr_before=ibis.coalesce(joined.mrr_before, zero),
        mrr_after=ibis.coalesce(joined.mrr, zero),
        seats_before=ibis.coalesce(joined.seats_before, 0),
        seats_after=ibis.coalesce(joined.seats, 0),
        rank_before=joined.rank_before,
        rank_after=joined["rank"],
        plan_after=joined.plan,
        new_plan=joined.new_plan.notnull(),
    )


def first_payments(subscriptions: ir.Table) -> ir.Table:
    """Per account: ``first_paid`` (its first day with MRR > 0) and ``cohort`` (that month).

    Amounts are never negative (DATA.md), so the first day with MRR > 0 is the earliest start
    of a row with mrr > 0.
    """
    paid = subscriptions.filter(subscriptions.mrr > 0)
    first = paid.group_by("account_id").aggregate(first_paid=paid.start_date.min())
    return first.mutate(cohort=first.first_paid.truncate("M"))


def _events(
    subscriptions: ir.Table, plans: ir.Table | None, accounts: ir.Table | None, through: dt.date
) -> ir.Table:
    c = change_days(subscriptions, plans, through)
    up = c.filter((c.mrr_before > 0) & (c.mrr_after > c.mrr_before))
    ranked = up.rank_before.notnull() & up.rank_after.notnull()
    tier = ibis.ifelse(ranked, up.rank_after > up.rank_before, up.new_plan)
    kind = ibis.cases(
        (tier, "tier"),
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
    if accounts is None:
        people = events.select("account_id").distinct()
        people = people.mutate(
            segment=ibis.null("string"), csm=ibis.null("string"), ae=ibis.null("string")
        ).mutate(owner=ibis.literal("(none)"))
    else:
        owner = account_owner(accounts)
        people = accounts.select("account_id", "segment", "csm", "ae", owner=owner)
    joined = events.left_join(people, "account_id").left_join(
        first_payments(subscriptions), "account_id"
    )
    return joined.select(
        "account_id",
        "date",
        "mrr_before",
        "mrr_after",
        "delta_mrr",
        "kind",
        "segment",
        "plan",
        "csm",
        "ae",
        owner=ibis.coalesce(joined.owner, ibis.literal("(none)")),  # absent from accounts
        cohort=joined.cohort,
        first_paid=joined.first_paid,
    )


@overload
def expansion_events(source: Tables, through: dt.date, /) -> ir.Table: ...


@overload
def expansion_events(
    subscriptions: ir.Table,
    plans: ir.Table | None,
    accounts: ir.Table | None,
    through: dt.date,
    /,
) -> ir.Table: ...


def expansion_events(*args: Any) -> ir.Table:
    """Every expansion through ``through``, one row per account and day.

    ``expansion_events(source, through)`` takes a loaded source (or a mapping of its tables by
    name); ``expansion_events(subscriptions, plans, accounts, through)`` the tables themselves.

    Columns: account_id, date, mrr_before, mrr_after, delta_mrr, kind (tier|seats|price), and
    for grouping the account's segment, plan (the top plan after), csm, ae, owner (csm, else
    ae, else ``(none)``), cohort (month of its first payment, a date YYYY-MM-01) and first_paid
    (its first day with MRR > 0).
    """
    if len(args) == 2:
        subscriptions, plans, accounts = _parts(args[0])
        return _events(subscriptions, plans, accounts, args[1])
    if len(args) == 4:
        return _events(*args)
    raise TypeError(
        "expansion_events(source, through) or (subscriptions, plans, accounts, through)"
    )


def expansions_between(source: Tables, start: dt.date | None, end: dt.date) -> ir.Table:
    """The expansions dated from ``start`` (from the first, when None) through ``end``: the rows
    of :func:`expansion_events` in that period."""
    events = expansion_events(source, end)
    return events if start is None else events.filter(events.date >= ibis.literal(start))


def expansion_arr(events: ir.Table, by: str) -> ir.Table:
    """Per group of ``by``: expansions, accounts, expansion_mrr and expansion_arr (12 x MRR).

    ``by`` is one of segment, plan, csm, owner (csm, else ae, else ``(none)``), cohort (YYYY-MM-01)
    or kind. Accounts without a value are grouped under ``(none)``.
    """
    if by not in GROUPS:
        raise UsageError(f"--by {by!r} is not a grouping", fix=f"use one of {', '.join(GROUPS)}")
    value = events.cohort.strftime("%Y-%m-%d") if by == "cohort" else events[by]
    key = value.cast("string").nullif("").fill_null("(none)")
    e = events.mutate(group=key)
    grouped = e.group_by("group").aggregate(
        expansions=e.count(),
        accounts=e.account_id.nunique(),
        expansion_mrr=e.delta_mrr.sum(),
    )
    return grouped.mutate(expansion_arr=grouped.expansion_mrr * 12).order_by("group")


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
        rows = _rows(subscriptions, plans)
        on = d.select(account_id="account_id", day="first_paid")
        start = _in_force(on, rows, 0).select(g_account="account_id", group="plan")
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
    subscriptions, plans, accounts = _parts(source)
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

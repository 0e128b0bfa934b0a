"""Expansions at day precision and expansion ARR by group (time to expansion, read from the
same changes, is in :mod:`headroom.metrics.time_to_expansion`).

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
from collections.abc import Mapping
from typing import Any, overload

import ibis
import ibis.expr.types as ir

from headroom.errors import UsageError
from headroom.metrics.options import ExpansionGrouping
from headroom.metrics.revenue import account_owner
from headroom.sources import Source

#: What expansion ARR can be grouped by.
GROUPS = tuple(g.value for g in ExpansionGrouping)

#: A loaded source, or its tables by contract name (subscriptions; plans and accounts optional).
Tables = Source | Mapping[str, ir.Table]


def source_tables(source: Tables) -> tuple[ir.Table, ir.Table | None, ir.Table | None]:
    """subscriptions, plans (None when absent) and accounts (None when absent)."""
    if isinstance(source, Source):
        plans = source.table("plans") if source.has("plans") else None
        return source.table("subscriptions"), plans, source.table("accounts")
    return source["subscriptions"], source.get("plans"), source.get("accounts")


def plan_rows(subscriptions: ir.Table, plans: ir.Table | None) -> ir.Table:
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


def in_force(days: ir.Table, rows: ir.Table, shift: int) -> ir.Table:
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
    rows = plan_rows(s, plans)
    after = in_force(days, rows, 0)
    before = in_force(days, rows, -1).select(
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
        subscriptions, plans, accounts = source_tables(args[0])
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

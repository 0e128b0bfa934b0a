"""One row per account as of a day: the subscription in force, seats and latest usage.

Everything here is an ibis expression over all accounts at once; nothing runs until the caller
executes it, so the same code serves DuckDB and Spark.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from headroom.sources import Source


def account_snapshot(source: Source, day: dt.date) -> ir.Table:
    """Every account with its state at the end of ``day``.

    Columns: account_id, segment, plan (the highest-ranked plan in force) and its plan_rank
    (0 when the source has no plans table), mrr (sum of the rows
    in force, per DATA.md), seats (their sum), customer (mrr > 0), and the account's latest
    ``active_users`` on or before the day (null without usage).
    """
    d = ibis.literal(day)
    subs = source.table("subscriptions")
    plans = source.table("plans")
    in_force = subs.filter((subs.start_date <= d) & (subs.end_date.isnull() | (subs.end_date > d)))
    ranked = in_force.left_join(plans.select("plan", "rank"), "plan").select(
        "account_id", "plan", "mrr", "seats", rank=ibis.coalesce(ibis._["rank"], 0)
    )
    money = ranked.group_by("account_id").aggregate(
        mrr=ranked.mrr.sum(),
        seats=ranked.seats.sum(),
        plan=ranked.plan.argmax(ranked["rank"]),
        plan_rank=ranked["rank"].max(),
    )
    usage = source.table("usage_daily")
    active = usage.filter((usage.metric == "active_users") & (usage.date <= d))
    latest = active.group_by("account_id").aggregate(active_users=active.value.argmax(active.date))
    accounts = source.table("accounts").select("account_id", "segment")
    out = accounts.left_join(money, "account_id").left_join(latest, "account_id")
    return out.select(
        "account_id",
        "segment",
        "plan",
        "plan_rank",
        mrr=ibis.coalesce(out.mrr, ibis.literal(0).cast(out.mrr.type())),
        seats=out.seats,
        active_users=out.active_users,
        customer=ibis.coalesce(out.mrr, 0) > 0,
    )


def customers_by_plan_and_segment(snapshot: ir.Table) -> ir.Table:
    """Paying accounts grouped by plan and segment: counts, MRR, seats and seat use."""
    paying = snapshot.filter(snapshot.customer)
    grouped = paying.group_by(["plan_rank", "plan", "segment"]).aggregate(
        accounts=paying.count(),
        mrr=paying.mrr.sum(),
        seats=paying.seats.sum(),
        active_users=paying.active_users.sum().cast("int64"),
    )
    segment_order = ibis.cases(
        (grouped.segment == "smb", 0),
        (grouped.segment == "mid_market", 1),
        (grouped.segment == "enterprise", 2),
        else_=3,
    )
    return (
        grouped.mutate(seat_utilisation=(grouped.active_users / grouped.seats.nullif(0)).round(3))
        .order_by([grouped.plan_rank, segment_order])
        .drop("plan_rank")
    )

"""Built-in signals, registered through the same decorator a user's own signal would use.

Each provider computes one or more columns for every account on every day of the context's
spine, as of the end of that day.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.metrics.expansion import expansion_events
from headroom.playbook.expressions import SignalType
from headroom.signals.registry import Compute, Context, family, signal
from headroom.signals.wording import in_days, words

N, T, B = SignalType.number, SignalType.text, SignalType.boolean


# ibis compiles ``argmax`` to an ordered aggregate (FIRST(x ORDER BY y DESC)), which sorts every
# group; the engines' own arg-max (DuckDB's arg_max, Spark's max_by) streams, several times
# faster on a full signal table. Both skip rows whose key is null, as these signals need.
@ibis.udf.agg.builtin(name="max_by")  # type: ignore[untyped-decorator]
def _number_by_date(arg: float, key: datetime.date) -> float:  # type: ignore[empty-body]
    """The value of the row with the latest date."""


@ibis.udf.agg.builtin(name="max_by")  # type: ignore[untyped-decorator]
def _text_by_number(arg: str, key: int) -> str:  # type: ignore[empty-body]
    """The text of the row with the highest number."""


@ibis.udf.agg.builtin(name="max_by")  # type: ignore[untyped-decorator]
def _text_by_share(arg: str, key: float) -> str:  # type: ignore[empty-body]
    """The text of the row with the highest share."""


@ibis.udf.agg.builtin(name="max_by")  # type: ignore[untyped-decorator]
def _whole_by_date(arg: int, key: datetime.date) -> int:  # type: ignore[empty-body]
    """The whole number of the row with the latest date."""


#: Usage older than this many days is stale: a gauge is not carried forward for ever.
USAGE_FRESH_DAYS = 7


def rows_in_force(ctx: Context) -> ir.Table:
    """Each subscription row with every spine day it is in force on (column ``day``)."""
    s = ctx.table("subscriptions")
    d = ctx.days
    return s.inner_join(d, (s.start_date <= d.day) & (s.end_date.isnull() | (s.end_date > d.day)))


# -- the subscription in force ------------------------------------------------------------------


@signal("mrr", N, "MRR in force at the end of the day (overlapping rows summed)")
@signal("acv", N, "annual contract value: 12 x MRR")
@signal("seats", N, "licensed seats in force")
@signal("tier", T, "the highest-ranked plan in force", needs=("plans",))
@signal("tier_rank", N, "rank of that plan (a bigger tier has a higher rank)", needs=("plans",))
@signal("days_to_renewal", N, "days until the next renews_on of the rows in force",
        describe=lambda value, _: f"renewal in {in_days(value)}")  # fmt: skip
@signal("paying", B, "MRR > 0 at the end of the day")
def subscription_in_force(ctx: Context) -> ir.Table:
    return ctx.shared("_subscription_in_force", lambda: _subscription_in_force(ctx))


def _subscription_in_force(ctx: Context) -> ir.Table:
    g = in_force_values(ctx, rows_in_force(ctx), "day", ["account_id", "day"])
    days = g.next_renewal.delta(g.day, unit="day").cast("float64")
    return g.mutate(days_to_renewal=days).drop("next_renewal")


def in_force_values(ctx: Context, live: ir.Table, day: str, by: list[str]) -> ir.Table:
    """The subscription signals per ``by`` from ``live``, the subscription rows in force on
    the column ``day``: mrr, acv, seats, tier, tier_rank, paying, and ``next_renewal``, the
    earliest renews_on on or after the day (the daily and the step forms share it)."""
    ranked = live.left_join(ctx.table("plans").select("plan", "rank"), "plan")
    rank = ibis.coalesce(ranked["rank"], 0)
    upcoming = ibis.cases((ranked.renews_on >= ranked[day], ranked.renews_on), else_=None)
    g = ranked.group_by(by).aggregate(
        mrr=ranked.mrr.sum(),
        seats=ranked.seats.sum(),
        tier=_text_by_number(ranked.plan, rank),
        tier_rank=rank.max(),
        next_renewal=upcoming.min(),
    )
    return g.select(
        *by,
        mrr=g.mrr.cast("float64"),
        acv=(g.mrr * 12).cast("float64"),
        seats=g.seats.cast("float64"),
        tier=g.tier,
        tier_rank=g.tier_rank.cast("float64"),
        paying=g.mrr > 0,
        next_renewal=g.next_renewal,
    )


@signal("tenure_days", N, "days since the account's first payment")
def tenure(ctx: Context) -> ir.Table:
    s = ctx.table("subscriptions")
    paid = s.filter(s.mrr > 0)
    first = paid.group_by("account_id").aggregate(first=paid.start_date.min())
    d = ctx.days
    on = first.inner_join(d, first.first <= d.day)
    return on.select(
        "account_id", "day", tenure_days=on.day.delta(on.first, unit="day").cast("float64")
    )


@signal(
    "days_since_expansion",
    N,
    "days since the account's latest expansion (MRR up: a higher tier, more seats or a "
    "higher price; missing: none yet)",
)
def days_since_expansion(ctx: Context) -> ir.Table:
    plans = ctx.table("plans") if ctx.source.has("plans") else None
    e = expansion_events(ctx.table("subscriptions"), plans, None, ctx.as_of)
    e = e.select(_account="account_id", _date="date")
    d = ctx.days
    on = e.inner_join(d, e._date <= d.day)
    latest = on.group_by([on._account, on.day]).aggregate(_latest=on._date.max())
    return latest.select(
        account_id=latest._account,
        day=latest.day,
        days_since_expansion=latest.day.delta(latest._latest, unit="day").cast("float64"),
    )


# -- the account --------------------------------------------------------------------------------


@signal("segment", T, "smb, mid_market or enterprise")
@signal("health", T, "healthy, neutral or at_risk")
@signal("onboarded", B, "onboarding completed on or before the day")
def account_facts(ctx: Context) -> ir.Table:
    a = ctx.table("accounts").cross_join(ctx.days)
    return a.select(
        "account_id",
        "day",
        "segment",
        "health",
        onboarded=ibis.coalesce(a.onboarded_on <= a.day, ibis.literal(False)),
    )


# -- usage --------------------------------------------------------------------------------------


@signal("active_users", N, "users active in the trailing 30 days (latest value)",
        needs=("usage_daily",))  # fmt: skip
@signal("power_users", N, "users with > 20 hours in the trailing week (latest value)",
        needs=("usage_daily",))  # fmt: skip
@signal("seat_utilisation", N, "active_users / seats", needs=("usage_daily",))
def latest_usage(ctx: Context) -> ir.Table:
    u = ctx.recent("usage_daily", USAGE_FRESH_DAYS)
    u = u.filter(u.metric.isin(["active_users", "power_users"]))
    d = ctx.window_days(USAGE_FRESH_DAYS)
    fresh = u.inner_join(d, (u.date <= d.day) & (u.date >= d.window_start)).drop("window_start")
    latest = fresh.group_by(["account_id", "day"]).aggregate(
        active_users=_number_by_date(
            fresh.value, ibis.cases((fresh.metric == "active_users", fresh.date), else_=None)
        ),
        power_users=_number_by_date(
            fresh.value, ibis.cases((fresh.metric == "power_users", fresh.date), else_=None)
        ),
    )
    seats = subscription_in_force(ctx).select(s_account="account_id", s_day="day", s_seats="seats")
    joined = latest.left_join(
        seats, (latest.account_id == seats.s_account) & (latest.day == seats.s_day)
    )
    return joined.select(
        "account_id",
        "day",
        "active_users",
        "power_users",
        seat_utilisation=joined.active_users / joined.s_seats.nullif(0),
    )


# -- events -------------------------------------------------------------------------------------

#: The names of the event-count signals: the event, then the trailing days.
EVENT_SIGNAL = r"events_([a-z][a-z0-9_]*)_(\d+)d"


def _events_words(match: re.Match[str], value: Any, _: Mapping[str, Any]) -> str:
    days = int(match.group(2))
    span = "today" if days == 1 else f"in {days} days"
    return f"{words(match.group(1))} events: {int(value)} {span}"


@family(
    EVENT_SIGNAL,
    "events_<event>_<N>d",
    N,
    "how many <event> events the account had in the trailing N days, the day itself included",
    needs=("events",),
    describe=_events_words,
)
def event_count(match: re.Match[str]) -> Compute:
    event, days = match.group(1), int(match.group(2))
    name = match.group(0)

    def compute(ctx: Context) -> ir.Table:
        e = ctx.recent("events", days)
        e = e.filter(e.event == event).select("account_id", on=e.timestamp.date())
        d = ctx.window_days(days)
        window = e.inner_join(d, (e.on <= d.day) & (e.on >= d.window_start))
        counted = window.group_by(["account_id", "day"]).aggregate(n=window.count())
        grid = ctx.grid()
        joined = grid.left_join(
            counted,
            (grid.account_id == counted.account_id) & (grid.day == counted.day),
        )
        return joined.select(
            account_id=grid.account_id,
            day=grid.day,
            **{name: ibis.coalesce(joined.n, 0).cast("float64")},
        )

    return compute


# -- plan limits --------------------------------------------------------------------------------


def _days_in_month(year: ir.IntegerValue, month: ir.IntegerValue) -> ir.IntegerValue:
    first = ibis.date(year, month, 1)
    nxt = first + ibis.interval(months=1)
    return nxt.delta(first, unit="day")


def cycle_start(day: ir.DateValue, anchor: ir.IntegerValue) -> ir.DateValue:
    """The first day of the billing cycle that ``day`` falls in.

    Cycles are monthly, anchored on ``anchor`` (the day of month the current subscription
    started); in a month too short for the anchor, the cycle starts on its last day.
    """
    this_day = ibis.least(anchor, _days_in_month(day.year(), day.month()))
    this_start = ibis.date(day.year(), day.month(), this_day)
    prev = day.truncate("M") - ibis.interval(months=1)
    prev_day = ibis.least(anchor, _days_in_month(prev.year(), prev.month()))
    prev_start = ibis.date(prev.year(), prev.month(), prev_day)
    return ibis.cases((day.day() >= this_day, this_start), else_=prev_start)


def billing_anchor(ctx: Context) -> ir.Table:
    """Per account and spine day: the day of month its billing cycles start on (``anchor``).

    The anchor is the day of month of the latest subscription row in force that day.
    """
    live = rows_in_force(ctx)
    return live.group_by(["account_id", "day"]).aggregate(anchor=live.start_date.max().day())


def cycle_streak(
    ctx: Context, table: ir.Table, condition: ir.BooleanValue, cycles: int
) -> ir.Table:
    """Accounts whose condition held at the end of each of their last ``cycles`` completed
    billing cycles (a cycle's last day is where per-cycle totals are complete).

    Columns: account_id, cycles_held.
    """
    marked = table.select("account_id", "day", held=condition)
    anchors = billing_anchor(ctx).select(a_account="account_id", a_day="day", anchor="anchor")
    joined = marked.inner_join(
        anchors, (marked.account_id == anchors.a_account) & (marked.day == anchors.a_day)
    )
    tomorrow = joined.day + ibis.interval(days=1)
    ends = joined.filter(cycle_start(tomorrow, joined.anchor) == tomorrow)
    ranked = ends.mutate(
        n=ibis.row_number().over(group_by=ends.account_id, order_by=ibis.desc(ends.day))
    )
    last = ranked.filter(ranked.n < cycles)
    counted = last.group_by("account_id").aggregate(
        seen=last.count(), held=last.held.cast("int64").sum()
    )
    done = counted.filter((counted.seen == cycles) & (counted.held == cycles))
    return done.select("account_id", cycles_held=done.held)


def limits_in_force(ctx: Context) -> ir.Table:
    """Per account, spine day and metered metric: the plan's ``limit`` and ``kind`` in force,
    ``since``, the first day of the billing cycle the day falls in, and ``fresh_from``.

    The plan is the highest-ranked one in force; the cycle anchor comes from the same rows.
    """

    def build() -> ir.Table:
        live = rows_in_force(ctx)
        ranked = live.left_join(ctx.table("plans").select("plan", "rank"), "plan")
        rank = ibis.coalesce(ranked["rank"], 0)
        top = ranked.group_by(["account_id", "day"]).aggregate(
            plan=_text_by_number(ranked.plan, rank), anchor=ranked.start_date.max().day()
        )
        limits = ctx.table("plan_limits").select("plan", "metric", "limit", "kind")
        top = top.inner_join(limits, "plan")
        top = top.inner_join(ctx.window_days(USAGE_FRESH_DAYS), "day")
        return top.select(
            "account_id",
            "day",
            "metric",
            "limit",
            "kind",
            since=cycle_start(top.day, top.anchor),
            fresh_from=top.window_start,  # where a gauge's latest value must be from
        )

    return ctx.once("_limits", build)


def limit_shares(ctx: Context) -> ir.Table:
    """Per account, spine day and metered metric: usage as a share of the limit (``share``)."""

    def build() -> ir.Table:
        top = limits_in_force(ctx)
        # A per-cycle limit sums the cycle so far; a gauge reads its latest fresh value.
        top = top.mutate(
            counts_from=ibis.cases((top.kind == "per_cycle", top.since), else_=top.fresh_from)
        )
        u = ctx.recent("usage_daily", 31)  # a billing cycle is at most 31 days
        u = u.select(u_account="account_id", u_metric="metric", u_date="date", v="value")
        window = top.inner_join(
            u,
            (u.u_account == top.account_id)
            & (u.u_metric == top.metric)
            & (u.u_date <= top.day)
            & (u.u_date >= top.counts_from),
        )
        g = window.group_by(["account_id", "day", "metric", "kind", "limit"]).aggregate(
            total=window.v.sum(), latest=_number_by_date(window.v, window.u_date)
        )
        used = ibis.cases((g.kind == "per_cycle", g.total), else_=g.latest)
        return g.select(
            "account_id", "day", "metric", share=(used / g["limit"].nullif(0)).cast("float64")
        )

    return ctx.once("_shares", build)


@family(
    r"limit_share_([a-z][a-z0-9_]*)",
    "limit_share_<metric>",
    N,
    "a metered metric as a share of the plan's limit: the latest value for a gauge, the sum "
    "so far in the current billing cycle for a per_cycle limit",
    needs=("usage_daily", "plan_limits"),
    describe=lambda m, value, _: f"{words(m.group(1))} at {value:.0%} of its limit",
)
def limit_share(match: re.Match[str]) -> Compute:
    metric = match.group(1)
    name = match.group(0)

    def compute(ctx: Context) -> ir.Table:
        shares = limit_shares(ctx)
        mine = shares.filter(shares.metric == metric)
        return mine.select("account_id", "day", **{name: mine.share})

    return compute


@signal("limit_share", N, "the highest limit_share_<metric> of the account's metered metrics",
        needs=("usage_daily", "plan_limits"),
        describe=lambda value, _: f"{value:.0%} of a plan limit")  # fmt: skip
@signal("limit_metric", T, "the metered metric closest to (or furthest past) its limit",
        needs=("usage_daily", "plan_limits"))  # fmt: skip
def top_limit_share(ctx: Context) -> ir.Table:
    shares = limit_shares(ctx)
    shares = shares.filter(shares.share.notnull())
    g = shares.group_by(["account_id", "day"]).aggregate(
        limit_share=shares.share.max(), limit_metric=_text_by_share(shares.metric, shares.share)
    )
    return g


# -- company ------------------------------------------------------------------------------------


@family(
    r"headcount_growth_(\d+)d",
    "headcount_growth_<N>d",
    N,
    "relative change of the company's headcount over the trailing N days (0.1 = +10%), "
    "from the latest figures on or before each end",
    needs=("firmographics",),
)
def headcount_growth(match: re.Match[str]) -> Compute:
    days = int(match.group(1))
    name = match.group(0)

    def latest_on(ctx: Context, shift: int, label: str) -> ir.Table:
        f = ctx.table("firmographics")
        d = ctx.window_days(shift + 1)  # its window_start is ``shift`` days before the day
        known = f.inner_join(d, f.date <= d.window_start).drop("window_start")
        return known.group_by(["account_id", "day"]).aggregate(
            **{label: _whole_by_date(known.headcount, known.date)}
        )

    def compute(ctx: Context) -> ir.Table:
        now = latest_on(ctx, 0, "now")
        then = latest_on(ctx, days, "then").rename(t_account="account_id", t_day="day")
        j = now.inner_join(then, (now.account_id == then.t_account) & (now.day == then.t_day))
        return j.select(
            "account_id",
            "day",
            **{name: (j.now / j.then.nullif(0)).cast("float64") - 1},
        )

    return compute

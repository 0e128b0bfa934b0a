"""Step forms of the built-in signals (see :mod:`headroom.signals.steps`), each giving the values
of its daily form in :mod:`headroom.signals.builtin`, registered as a user's own would be."""

from __future__ import annotations

import datetime as dt
import re

import ibis
import ibis.expr.types as ir

from headroom.signals.builtin import USAGE_FRESH_DAYS, _number_by_date, _text_by_number
from headroom.signals.registry import Context
from headroom.signals.steps import Steps, StepsCompute, day_stretches, forms, steps, steps_family


def _bounds(ctx: Context) -> tuple[ir.DateScalar, ir.DateScalar]:
    """The spine's first day and the day after its last: where stretches start and stop."""
    return ibis.literal(ctx.first_day), ibis.literal(ctx.as_of + dt.timedelta(days=1))


def _next_day(day: ir.DateValue) -> ir.DateValue:
    out: ir.DateValue = (day + ibis.interval(days=1)).cast("date")
    return out


# -- the subscription in force ------------------------------------------------------------------


@steps("mrr", "acv", "seats", "tier", "tier_rank", "days_to_renewal", "paying")
def subscription_steps(ctx: Context) -> Steps:
    first, stop = _bounds(ctx)
    s = ctx.table("subscriptions")
    # What is in force changes where a row starts or ends; the next renewal moves on the day
    # after a row's renews_on.
    starts = s.select("account_id", since=s.start_date)
    ends = s.filter(s.end_date.notnull()).select("account_id", since=s.end_date)
    renewed = s.filter(s.renews_on.notnull()).select("account_id", since=_next_day(s.renews_on))
    points = starts.union(ends).union(renewed)
    points = points.select("account_id", since=ibis.greatest(points.since, first))
    points = points.filter(points.since < stop).distinct()
    stretches = day_stretches(points, stop)
    rows = s.select(
        _account=s.account_id,
        _start=s.start_date,
        _end=s.end_date,
        plan=s.plan,
        mrr=s.mrr,
        seats=s.seats,
        renews_on=s.renews_on,
    )
    live = stretches.inner_join(
        rows,
        (stretches.account_id == rows._account)
        & (rows._start <= stretches.since)
        & (rows._end.isnull() | (rows._end > stretches.since)),
    )
    ranked = live.left_join(ctx.table("plans").select("plan", "rank"), "plan")
    rank = ibis.coalesce(ranked["rank"], 0)
    upcoming = ibis.cases((ranked.renews_on >= ranked.since, ranked.renews_on), else_=None)
    g = ranked.group_by(["account_id", "since", "until"]).aggregate(
        mrr=ranked.mrr.sum(),
        seats=ranked.seats.sum(),
        tier=_text_by_number(ranked.plan, rank),
        tier_rank=rank.max(),
        next_renewal=upcoming.min(),
    )
    table = g.select(
        "account_id",
        "since",
        "until",
        mrr=g.mrr.cast("float64"),
        acv=(g.mrr * 12).cast("float64"),
        seats=g.seats.cast("float64"),
        tier=g.tier,
        tier_rank=g.tier_rank.cast("float64"),
        paying=g.mrr > 0,
        next_renewal=g.next_renewal,
    )
    return Steps(table, days_until={"days_to_renewal": "next_renewal"})


@steps("tenure_days")
def tenure_steps(ctx: Context) -> Steps:
    first, stop = _bounds(ctx)
    s = ctx.table("subscriptions")
    paid = s.filter(s.mrr > 0)
    began = paid.group_by("account_id").aggregate(began=paid.start_date.min())
    table = began.select(
        "account_id", since=ibis.greatest(began.began, first), until=stop, began=began.began
    )
    return Steps(table.filter(table.since < table.until), days_since={"tenure_days": "began"})


# -- the account --------------------------------------------------------------------------------


@steps("segment", "health", "onboarded")
def account_steps(ctx: Context) -> Steps:
    first, stop = _bounds(ctx)
    a = ctx.table("accounts")
    # Engines skip nulls in greatest(): an account not onboarded is kept apart by hand.
    onboarded = ibis.cases(
        (a.onboarded_on.notnull(), ibis.least(ibis.greatest(a.onboarded_on, first), stop)),
        else_=None,
    )
    before = a.select(
        "account_id",
        since=first,
        until=ibis.coalesce(onboarded, stop),
        segment=a.segment,
        health=a.health,
        onboarded=ibis.literal(False),
    )
    after = a.filter(a.onboarded_on.notnull()).select(
        "account_id",
        since=onboarded,
        until=stop,
        segment=a.segment,
        health=a.health,
        onboarded=ibis.literal(True),
    )
    table = before.union(after)
    return Steps(table.filter(table.since < table.until), complete=True)


# -- usage --------------------------------------------------------------------------------------


#: The metrics whose latest values are signals (see latest_usage).
LATEST = ("active_users", "power_users")


def _usage_stats(ctx: Context, metric: str) -> ir.Table:
    """Per account: the metric's first and last day (``lo``, ``hi``), rows (``n``) and last
    value (``value``). One pass over the usage gives them for every metric of :data:`LATEST`
    (grouped by account alone: a second text key costs a third more), stored."""

    def build() -> ir.Table:
        u = ctx.recent("usage_daily", USAGE_FRESH_DAYS)
        u = u.filter(u.metric.isin(LATEST))
        per: dict[str, ir.Value] = {}
        for i, m in enumerate(LATEST):
            on = ibis.cases((u.metric == m, u.date), else_=None)
            per |= {
                f"lo{i}": on.min(),
                f"hi{i}": on.max(),
                f"n{i}": on.count(),
                f"value{i}": _number_by_date(u.value, on),
            }
        return u.group_by("account_id").aggregate(**per)

    stats = ctx.shared("_usage_stats", build)
    i = LATEST.index(metric)
    stats = stats.filter(stats[f"n{i}"] > 0)
    return stats.select(
        "account_id",
        lo=stats[f"lo{i}"],
        hi=stats[f"hi{i}"],
        n=stats[f"n{i}"],
        value=stats[f"value{i}"],
    )


def _latest(ctx: Context, metric: str) -> ir.Table:
    """``account_id, since, value``: on every spine day, the metric's latest value dated in the
    trailing ``USAGE_FRESH_DAYS`` days (as :func:`~headroom.signals.builtin.latest_usage`).

    On a day with a row, the latest value is that row's (keys are unique). Other days need a
    search only between an account's first and last rows when it has gaps there; the usual
    feed, a row every day, has none, and its last row carries on while it is fresh.
    """
    first, _ = _bounds(ctx)
    u = ctx.recent("usage_daily", USAGE_FRESH_DAYS)
    u = u.filter(u.metric == metric).select("account_id", "date", "value")
    own = u.filter(u.date >= first).select("account_id", since=u.date, value=u.value)
    stats = _usage_stats(ctx, metric)
    d = ctx.window_days(USAGE_FRESH_DAYS)
    # The days after an account's last row carry its value while it is fresh.
    tail = stats.inner_join(d, (d.day > stats.hi) & (d.window_start <= stats.hi))
    out = own.union(tail.select("account_id", since=tail.day, value=tail.value))
    gaps = stats.filter(stats.n < stats.hi.delta(stats.lo, unit="day") + 1)
    if gaps.count().to_pyarrow().as_py() == 0:
        return out
    gaps = gaps.select(_g_account=gaps.account_id, _g_hi=gaps.hi)
    # Read apart and stored: in one query with ``own``, the engine would store all of the
    # metric's rows to read them twice.
    gappy = ctx.shared(
        f"_usage_gaps_{metric}",
        lambda: u.inner_join(gaps, u.account_id == gaps._g_account).drop("_g_account"),
    )
    fresh = gappy.inner_join(
        d, (gappy.date <= d.day) & (gappy.date >= d.window_start) & (d.day < gappy._g_hi)
    )
    searched = fresh.group_by(["account_id", "day"]).aggregate(
        value=_number_by_date(fresh.value, fresh.date), _own=(fresh.date == fresh.day).any()
    )
    searched = searched.filter(~searched._own)
    searched = searched.select("account_id", since=searched.day, value=searched.value)
    return out.union(searched)


@steps("active_users", "seat_utilisation")
def active_users_steps(ctx: Context) -> Steps:
    au = _latest(ctx, "active_users")
    (subs,) = forms(ctx, {"seats"})
    seats = subs.steps.table.select(
        _account="account_id", _since="since", _until="until", _seats="seats"
    )
    j = au.left_join(
        seats,
        (au.account_id == seats._account) & (seats._since <= au.since) & (au.since < seats._until),
    )
    table = j.select(
        "account_id",
        "since",
        until=_next_day(j.since),
        active_users=j.value,
        seat_utilisation=j.value / j._seats.nullif(0),
    )
    return Steps(table, daily=True)


@steps("power_users")
def power_users_steps(ctx: Context) -> Steps:
    pu = _latest(ctx, "power_users")
    table = pu.select("account_id", "since", until=_next_day(pu.since), power_users=pu.value)
    return Steps(table, daily=True)


# -- events -------------------------------------------------------------------------------------


@steps_family(r"events_([a-z][a-z0-9_]*)_(\d+)d")
def event_steps(match: re.Match[str]) -> StepsCompute:
    event, days = match.group(1), int(match.group(2))
    name = match.group(0)

    def compute(ctx: Context) -> Steps:
        first, stop = _bounds(ctx)
        e = ctx.recent("events", days)
        e = e.filter(e.event == event).select("account_id", on=e.timestamp.date())
        per_day = e.group_by(["account_id", "on"]).aggregate(n=e.count())
        # The count rises on an event's day and falls back N days later; every account starts
        # the spine with a stretch (of zero, if nothing happened in the window before it).
        enter = per_day.select("account_id", since=per_day.on, change=per_day.n)
        leave = per_day.select(
            "account_id",
            since=(per_day.on + ibis.interval(days=days)).cast("date"),
            change=-per_day.n,
        )
        start = ctx.table("accounts").select(
            "account_id", since=first, change=ibis.literal(0, "int64")
        )
        changes = enter.union(leave).union(start)
        changes = changes.filter(changes.since < stop)
        points = changes.group_by(["account_id", "since"]).aggregate(change=changes.change.sum())
        upto = ibis.window(group_by="account_id", order_by="since", preceding=None, following=0)
        points = points.mutate(count=points.change.sum().over(upto))
        stretches = day_stretches(points, stop)
        stretches = stretches.filter(stretches.since >= first)
        table = stretches.select(
            "account_id", "since", "until", **{name: stretches["count"].cast("float64")}
        )
        return Steps(table, complete=True)

    return compute

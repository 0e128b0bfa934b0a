"""Step forms of the built-in signals (see :mod:`headroom.signals.steps`), each giving the values
of its daily form in :mod:`headroom.signals.builtin`, registered as a user's own would be."""

from __future__ import annotations

import datetime as dt
import re

import ibis
import ibis.expr.types as ir

from headroom.signals.builtin import (
    EVENT_SIGNAL,
    USAGE_FRESH_DAYS,
    _number_by_date,
    in_force_values,
)
from headroom.signals.registry import Context
from headroom.signals.steps import (
    Steps,
    StepsCompute,
    day_stretches,
    days_after,
    forms,
    steps,
    steps_family,
)
from headroom.sources.layout import ACCOUNT_KEY


def _bounds(ctx: Context) -> tuple[ir.DateScalar, ir.DateScalar]:
    """The spine's first day and the day after its last: where stretches start and stop."""
    return ibis.literal(ctx.first_day), ibis.literal(ctx.as_of + dt.timedelta(days=1))


# -- the subscription in force ------------------------------------------------------------------


@steps("mrr", "acv", "seats", "tier", "tier_rank", "days_to_renewal", "paying")
def subscription_steps(ctx: Context) -> Steps:
    first, stop = _bounds(ctx)
    s = ctx.table("subscriptions")
    # What is in force changes where a row starts or ends; the next renewal moves on the day
    # after a row's renews_on.
    starts = s.select("account_id", since=s.start_date)
    ends = s.filter(s.end_date.notnull()).select("account_id", since=s.end_date)
    renewed = s.filter(s.renews_on.notnull()).select("account_id", since=days_after(s.renews_on))
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
    table = in_force_values(ctx, live, "since", ["account_id", "since", "until"])
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


def _keys(ctx: Context) -> ir.Table:
    """``account_id, _key``: the accounts' whole-number keys, given them by the loader (see
    :data:`~headroom.sources.layout.ACCOUNT_KEY`)."""
    a = ctx.table("accounts")
    return a.select("account_id", _key=a[ACCOUNT_KEY])


def _usage(
    ctx: Context, metrics: tuple[str, ...] = LATEST, lookback: int = USAGE_FRESH_DAYS
) -> ir.Table:
    """The usage rows of ``metrics`` from ``lookback`` days before the spine's first day on, of
    the known accounts (``_key, m, date, value``; ``m`` the metric's place in :data:`LATEST`).

    Not stored: a year of it is tens of millions of rows, slower to write than to read again
    (the loader stores each metric's rows together, so a read skips the others), and each form
    below keeps only what it needs of it. Each read asks for no more than it needs, which also
    keeps engines from materialising one read for two uses.
    """
    u = ctx.recent("usage_daily", lookback)
    u = u.filter(u.metric.isin(metrics) & u[ACCOUNT_KEY].notnull())
    m = ibis.cases(*((u.metric == name, i) for i, name in enumerate(LATEST)))
    return u.select(_key=u[ACCOUNT_KEY], m=m.cast("int8"), date=u.date, value=u.value)


def _usage_stats(ctx: Context) -> ir.Table:
    """Per account and metric (``_key, m``): first and last day (``lo``, ``hi``), the last
    day's value (``last``), whether the series has ``gaps`` (keys are unique: fewer rows than
    days) and whether it ``stops`` before the spine's last day without any, stored."""

    def build() -> ir.Table:
        u = _usage(ctx)
        t = u.group_by(["_key", "m"]).aggregate(
            lo=u.date.min(), hi=u.date.max(), n=u.count(), last=_number_by_date(u.value, u.date)
        )
        gaps = t.n < t.hi.delta(t.lo, unit="day") + 1
        return t.select("_key", "m", "hi", "last", gaps=gaps, stops=~gaps & (t.hi < ctx.as_of))

    return ctx.shared("_usage_stats", build)


def _latest(ctx: Context, metric: str) -> ir.Table:
    """``_key, since, value``: on every spine day, the metric's latest value dated in the
    trailing ``USAGE_FRESH_DAYS`` days (as :func:`~headroom.signals.builtin.latest_usage`).

    On a day with a row, the latest value is that row's (keys are unique). Other days carry an
    earlier value only after a series stops, or in its gaps; the usual feed, a row every day,
    has neither, so only the few series with gaps are searched day by day.
    """
    m = LATEST.index(metric)
    u = _usage(ctx, (metric,), 0)  # the rows dated on spine days
    own = u.select("_key", since=u.date, value=u.value)
    stats = _usage_stats(ctx)
    stats = stats.filter(stats.m == m)
    d = ctx.window_days(USAGE_FRESH_DAYS)
    # A series that stops early carries its last value for the days after.
    stops = stats.filter(stats.stops)
    tail = stops.inner_join(d, (d.day > stops.hi) & (d.window_start <= stops.hi))
    tail = tail.select("_key", since=tail.day, value=tail.last)
    # A series with gaps is searched day by day.
    gappy = stats.filter(stats.gaps).select(_g_key="_key")
    u = _usage(ctx, (metric,))
    gappy = u.semi_join(gappy, u._key == gappy._g_key)
    fresh = gappy.inner_join(d, (gappy.date <= d.day) & (gappy.date >= d.window_start))
    searched = fresh.group_by(["_key", "day"]).aggregate(
        value=_number_by_date(fresh.value, fresh.date), _own=(fresh.date == fresh.day).any()
    )
    searched = searched.filter(~searched._own)  # days with a row are read off it above
    searched = searched.select("_key", since=searched.day, value=searched.value)
    return own.union(tail).union(searched)


def _named(ctx: Context, t: ir.Table) -> ir.Table:
    """``t`` (by ``_key``) by ``account_id``: done last, so that a filter on ``t``'s values
    reaches it first."""
    keys = _keys(ctx).rename(_k_key="_key")
    j = t.inner_join(keys, t._key == keys._k_key)
    return j.select("account_id", *[c for c in t.columns if c != "_key"])


@steps("active_users", "seat_utilisation")
def active_users_steps(ctx: Context) -> Steps:
    au = _latest(ctx, "active_users")
    (subs,) = forms(ctx, {"seats"})
    s = subs.steps.table.inner_join(_keys(ctx), "account_id")
    seats = s.select(_s_key="_key", _since="since", _until="until", _seats="seats")
    j = au.left_join(
        seats,
        (au._key == seats._s_key) & (seats._since <= au.since) & (au.since < seats._until),
    )
    table = j.select(
        "_key",
        "since",
        until=days_after(j.since),
        active_users=j.value,
        seat_utilisation=j.value / j._seats.nullif(0),
    )
    return Steps(_named(ctx, table), daily=True)


@steps("power_users")
def power_users_steps(ctx: Context) -> Steps:
    pu = _latest(ctx, "power_users")
    table = pu.select("_key", "since", until=days_after(pu.since), power_users=pu.value)
    return Steps(_named(ctx, table), daily=True)


# -- events -------------------------------------------------------------------------------------


@steps_family(EVENT_SIGNAL)
def event_steps(match: re.Match[str]) -> StepsCompute:
    event, days = match.group(1), int(match.group(2))
    name = match.group(0)

    def compute(ctx: Context) -> Steps:
        first, stop = _bounds(ctx)
        e = ctx.recent("events", days)
        e = e.filter(e.event == event).select("account_id", on=e.timestamp.date())
        accounts = ctx.table("accounts").select("account_id")
        # Only the accounts the signal table has (an event of an unknown account is kept by
        # loading, with a warning): the stretches cover exactly those.
        e = e.semi_join(accounts, "account_id")
        per_day = e.group_by(["account_id", "on"]).aggregate(n=e.count())
        # The count rises on an event's day and falls back N days later; every account starts
        # the spine with a stretch (of zero, if nothing happened in the window before it).
        enter = per_day.select("account_id", since=per_day.on, change=per_day.n)
        leave = per_day.select(
            "account_id",
            since=days_after(per_day.on, days),
            change=-per_day.n,
        )
        start = accounts.select("account_id", since=first, change=ibis.literal(0, "int64"))
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

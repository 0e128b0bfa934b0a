"""When usage reaches a limit: the level a limit is compared with, and the first day it got there.

A gauge (storage) is at its limit when its value is. A per-cycle limit (API calls a month)
resets every billing cycle, so what reaches it is a cycle's total, not one busy weekday: the
level is the mean of the trailing 28 days, compared with the cycle's daily allowance (limit /
30.44 a day). Four whole weeks: a 30-day window holds two weekdays twice, so with a weekday
pattern its mean wobbles by the weekday it ends on, and so would the day it reaches the limit
(a short forecast's error then depended on the weekday it was made). The level exists once an
account has 28 days behind it; before that a partial window would lag less than a full one and
bend the line fitted through it.

The projection (:mod:`headroom.signals.trend`) fits these levels, its calibration
(:mod:`headroom.signals.calibration`) and the forecast check (:mod:`headroom.backtest.forecasts`)
judge them by the first later day they reached the limit: one definition for all three.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from headroom.signals.builtin import limits_in_force
from headroom.signals.registry import Context

#: A billing cycle's trailing window, whose daily mean a per-cycle limit is compared with:
#: four whole weeks, so that a weekday pattern does not make the mean wobble.
CYCLE_WINDOW = 28
#: A month, for turning a per-cycle limit into a daily allowance.
CYCLE_DAYS = 30.4375


def per_cycle(ctx: Context, metric: str) -> bool:
    """Whether some plan limits ``metric`` per billing cycle (else it is a gauge)."""

    def kinds() -> dict[str, bool]:
        pl = ctx.table("plan_limits")
        rows = pl.group_by("metric").aggregate(c=(pl.kind == "per_cycle").any())
        return {r["metric"]: bool(r["c"]) for r in rows.to_pyarrow().to_pylist()}

    found = ctx.memo.get("_per_cycle")
    if not isinstance(found, dict):
        found = ctx.memo["_per_cycle"] = kinds()
    return bool(found.get(metric, False))


def trailing_mean(u: ir.Table, days: int) -> ir.FloatingValue:
    """Over usage rows (``account_id``, ``x`` in days, ``y``): the mean of the trailing ``days``
    days, null until the account's rows reach that far back (a partial window would lag less
    than a full one)."""
    w = ibis.window(range=(-(days - 1), 0), group_by="account_id", order_by="x")
    first = u.x.min().over(ibis.window(group_by="account_id"))
    mean: ir.FloatingValue = ibis.ifelse(
        u.x - first >= days - 1, u.y.mean().over(w), ibis.null("float64")
    )
    return mean


def with_level(u: ir.Table) -> ir.Table:
    """Usage rows (``account_id``, ``x`` in days, ``y``) with ``level``: the mean of the
    trailing 28 days, null until the account's rows reach 28 days back."""
    return u.mutate(level=trailing_mean(u, CYCLE_WINDOW))


def limit_levels(ctx: Context, metric: str) -> ir.Table:
    """Per account (``l_account``) and spine day (``l_day``): the level at which ``metric``
    is at its limit (``threshold``: a per-cycle limit as the daily rate that fills a cycle),
    and whether the limit is per cycle (``cycle``)."""
    limits = limits_in_force(ctx)
    limits = limits.filter(limits.metric == metric)
    return limits.select(
        l_account="account_id",
        l_day="day",
        cycle=limits.kind == "per_cycle",
        threshold=ibis.cases(
            (limits.kind == "per_cycle", limits["limit"] / CYCLE_DAYS), else_=limits["limit"]
        ).cast("float64"),
    )


def with_threshold(ctx: Context, metric: str, made: ir.Table) -> ir.Table:
    """Projections (``account_id``, ``day``, ...) with the level that was the limit on their
    day (``threshold``) and whether it is per cycle (``cycle``)."""
    limits = limit_levels(ctx, metric)
    on = (made.account_id == limits.l_account) & (made.day == limits.l_day)
    return made.inner_join(limits, on).drop("l_account", "l_day")


def outcomes(truth: Context, metric: str, made: ir.Table) -> ir.Table:
    """``made`` (account_id, day, threshold, cycle, ...) with ``crossed_on``, the first later
    day the level reached its threshold (null: not by ``seen_until``), and ``seen_until``, the
    account's last day of usage up to ``truth``'s as-of day.

    The threshold is the one in force on the projection's day, whatever plan came later: the
    forecast was of usage, and an upgrade does not stop it.
    """
    u = truth.recent("usage_daily", CYCLE_WINDOW - 1)  # the first day's level looks back
    u = u.filter(u.metric == metric)
    x = u.date.delta(ibis.literal(truth.as_of), unit="day")
    u = with_level(u.select("account_id", "date", x=x, y=u.value.cast("float64")))
    last = u.group_by("account_id").aggregate(_last=u.date.max())
    # each account's levels against each threshold its projections aimed at (a few per account)
    targets = made.select(t_account="account_id", t_threshold="threshold", t_cycle="cycle")
    targets = targets.distinct()
    u = u.inner_join(targets, u.account_id == targets.t_account)
    level = ibis.ifelse(u.t_cycle, u.level, u.y)
    crossed = u.filter(level >= u.t_threshold).select("account_id", "date", threshold="t_threshold")
    p = _next_after(made, crossed)
    p = p.left_join(last, p.account_id == last.account_id).drop("account_id_right")
    seen = ibis.coalesce(p._last, ibis.literal(truth.as_of))
    crossed_on = ibis.ifelse(p._crossed <= seen, p._crossed, ibis.null("date"))
    return p.mutate(crossed_on=crossed_on, seen_until=seen).drop("_crossed", "_last")


def _next_after(made: ir.Table, marks: ir.Table) -> ir.Table:
    """``made`` with ``_crossed``: the first ``date`` of ``marks`` (account_id, date,
    threshold) after the projection's day, at its threshold."""
    keys = ["account_id", "threshold"]
    m = marks.select(*keys, day="date", _mark=ibis.literal(True))
    rows = made.select(*keys, "day", _mark=ibis.literal(False)).union(m)
    # a mark on the projection's own day sorts before it: only later days count
    ahead = ibis.window(
        group_by=keys, order_by=[rows.day, rows._mark.desc()], preceding=0, following=None
    )
    nxt = ibis.cases((rows._mark, rows.day), else_=ibis.null("date")).min().over(ahead)
    firsts = rows.mutate(_crossed=nxt).filter(~rows._mark)
    firsts = firsts.select(n_account="account_id", n_threshold="threshold", n_day="day",
                           _crossed="_crossed")  # fmt: skip
    on = (
        (made.account_id == firsts.n_account)
        & (made.threshold == firsts.n_threshold)
        & (made.day == firsts.n_day)
    )
    return made.left_join(firsts, on).drop("n_account", "n_threshold", "n_day")

"""Growth and trend signals of metered usage: how fast it grows, and when it reaches the limit.

Both are computed with range windows over each account's daily usage rows (one pass over the
usage table, whatever the number of spine days), then read on each spine day from that day's
own row: a day without a usage row for the metric has no value, as stale data should.

*Growth* compares 30-day windows: ``growth_<metric>_<N>m`` is the smallest of the last N
month-over-month changes of the metric's daily mean, so ``growth_api_calls_3m >= 0.08`` reads
"+8% month over month, sustained for 3 months". A window needs at least 20 days of data.

*Projection* fits a least-squares line to the last 90 days of the metric's daily values and
asks when the line reaches the limit of the plan in force. A gauge (storage) reaches it when its
value does; a per-cycle limit resets every billing cycle, so it is reached when the daily rate
would fill a whole cycle's allowance (limit / 30.44 a day). The 80% interval comes from the
slope's uncertainty (Student's t on n - 2 degrees of freedom): ``days_to_limit_<metric>_low``
if usage grows at the top of its likely range, ``_high`` at the bottom, missing when the bottom
is flat (the limit may never be reached). ``projection_<metric>`` says which case applies:

* ``projected``: a days-to-limit figure exists;
* ``reached``: the latest value (or the cycle's run rate) is at or past the limit: 0 days;
* ``not_growing``: the fitted trend is flat or falling: no date;
* ``not_within_a_year``: the line meets the limit over 365 days out: no date (a straight line
  that far ahead says nothing anyone can act on, and its interval would mislead);
* ``too_little_history``: fewer than 28 days of data in the 90-day window: no date.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
from scipy import stats

from headroom.playbook.expressions import SignalType
from headroom.signals.builtin import limits_in_force
from headroom.signals.registry import Compute, Context, family, signal
from headroom.signals.wording import in_days, words

N, T = SignalType.number, SignalType.text

#: Days of history a projection is fitted on, and the fewest days of data it accepts.
PROJECTION_WINDOW = 90
PROJECTION_MIN_DAYS = 28
#: The furthest ahead a projection gives a date.
PROJECTION_HORIZON = 365
#: A month, for growth windows and for turning a per-cycle limit into a daily allowance.
MONTH_DAYS = 30
CYCLE_DAYS = 30.4375
#: The fewest days of data a 30-day growth window accepts.
GROWTH_MIN_DAYS = 20
_METRIC = r"([a-z][a-z0-9_]*?)"


def _x(ctx: Context, date: ir.DateValue) -> ir.IntegerValue:
    """Days relative to the as-of day (small numbers keep the least-squares sums exact)."""
    return date.delta(ctx.day, unit="day")


def _usage(ctx: Context, metric: str, lookback: int) -> ir.Table:
    """The metric's rows from ``lookback`` days before the spine's first day to the as-of day."""
    u = ctx.recent("usage_daily", lookback)
    u = u.filter(u.metric == metric)
    return u.select("account_id", "date", x=_x(ctx, u.date), y=u.value.cast("float64"))


def _on_spine(ctx: Context, rows: ir.Table) -> ir.Table:
    """Keep the usage rows dated on a spine day, as ``day``."""
    d = ctx.days
    return rows.inner_join(d, rows.date == d.day).drop("date")


# -- growth -------------------------------------------------------------------------------------


@family(
    rf"growth_{_METRIC}_([1-9]|1[0-2])m",
    "growth_<metric>_<N>m",
    N,
    "the smallest month-over-month change of the metric's daily mean over the last N months "
    "(30-day windows; 0.08 = +8%; N from 1 to 12): growth_<metric>_3m >= 0.08 is +8% a month "
    "for 3 months",
    needs=("usage_daily",),
    describe=lambda m, value, _: _growth_words(words(m.group(1)), int(m.group(2)), value),
)
def growth(match: re.Match[str]) -> Compute:
    return _growth(match.group(1), int(match.group(2)), match.group(0))


def _growth_words(metric: str, months: int, value: float) -> str:
    if months == 1:
        return f"{metric} {value:+.1%} month over month"
    verb = "growing at least" if value >= 0 else "changing by at most"
    return f"{metric} {verb} {abs(value):.1%} a month for {months} months"


def _growth(metric: str, months: int, name: str) -> Compute:
    """``growth_<metric>_<N>m``'s compute, its column named ``name``."""

    def compute(ctx: Context) -> ir.Table:
        u = _usage(ctx, metric, MONTH_DAYS * (months + 1))
        means: list[ir.FloatingValue] = []
        enough: list[ir.BooleanValue] = []
        for k in range(months + 1):
            w = ibis.window(
                range=(-(MONTH_DAYS * (k + 1) - 1), -MONTH_DAYS * k),
                group_by="account_id",
                order_by="x",
            )
            means.append(u.y.mean().over(w))
            enough.append(u.y.count().over(w) >= GROWTH_MIN_DAYS)
        changes = [means[k] / means[k + 1].nullif(0) - 1 for k in range(months)]
        smallest = changes[0] if months == 1 else ibis.least(*changes)
        complete = enough[0]
        for e in enough[1:]:
            complete = complete & e
        rows = u.select(
            "account_id",
            "date",
            **{name: ibis.cases((complete, smallest), else_=ibis.null("float64"))},
        )
        return _on_spine(ctx, rows)

    return compute


# -- projection to the limit --------------------------------------------------------------------


def _t80_table(ctx: Context) -> ir.Table:
    """Student's t 90th percentile by number of points (n - 2 degrees of freedom), from scipy:
    joined in, so the engine uses the exact quantile without computing it. A table of the
    engine's own (not an in-memory one), so that a query compiled once can run again."""
    ns = list(range(3, PROJECTION_WINDOW + 1))
    rows = ibis.memtable(
        {"t_n": ns, "t80": [float(stats.t.ppf(0.9, n - 2)) for n in ns]},
        schema={"t_n": "int64", "t80": "float64"},
    )
    return ctx.once("_t80", lambda: ctx.source.small_table("headroom_t80", rows))


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


def projections(ctx: Context, metric: str) -> ir.Table:
    """Per account and spine day: ``status``, ``days``, ``low``, ``high`` for one metric."""
    return ctx.once(f"_projection_{metric}", lambda: _projection(ctx, metric))


def _projection(ctx: Context, metric: str) -> ir.Table:
    u = _usage(ctx, metric, PROJECTION_WINDOW)
    w = ibis.window(range=(-(PROJECTION_WINDOW - 1), 0), group_by="account_id", order_by="x")
    x, y = u.x.cast("float64"), u.y
    sums = u.select(
        "account_id",
        "date",
        x0=x,
        y0=y,
        n=y.count().over(w),
        sx=x.sum().over(w),
        sy=y.sum().over(w),
        sxx=(x * x).sum().over(w),
        sxy=(x * y).sum().over(w),
        syy=(y * y).sum().over(w),
    )
    s = _on_spine(ctx, sums)
    limits = limit_levels(ctx, metric)
    s = s.inner_join(limits, (s.account_id == limits.l_account) & (s.day == limits.l_day))
    quantiles = _t80_table(ctx)
    s = s.left_join(quantiles, s.n == quantiles.t_n).drop("t_n")
    n = s.n.cast("float64")
    xbar, ybar = s.sx / n, s.sy / n
    cxx = s.sxx - n * xbar * xbar
    cxy = s.sxy - n * xbar * ybar
    cyy = s.syy - n * ybar * ybar
    slope = cxy / cxx.nullif(0)
    resid = ibis.greatest(cyy - slope * cxy, 0.0) / (n - 2)
    se = (resid / cxx.nullif(0)).sqrt()
    t80 = s.t80
    fitted = ybar + slope * (s.x0 - xbar)
    gap = s.threshold - fitted
    fast, slow = slope + t80 * se, slope - t80 * se
    status = ibis.cases(
        (s.n < PROJECTION_MIN_DAYS, "too_little_history"),
        ((s.y0 >= s.threshold) | (gap <= 0), "reached"),
        (slope.isnull() | (slope <= 0), "not_growing"),
        (gap / slope > PROJECTION_HORIZON, "not_within_a_year"),
        else_="projected",
    )
    out = s.select(
        "account_id",
        "day",
        status=status,
        days=ibis.cases(
            (status == "reached", 0.0), (status == "projected", gap / slope), else_=None
        ),
        low=ibis.cases((status == "reached", 0.0), (status == "projected", gap / fast), else_=None),
        high=ibis.cases(
            (status == "reached", 0.0),
            ((status == "projected") & (slow > 0), gap / slow),
            else_=None,
        ),
    )
    return out


#: What a missing days_to_limit_<metric> means, by projection_<metric>.
_NO_DATE = {
    "not_growing": "is not growing: no ceiling date",
    "not_within_a_year": "is not projected to reach its limit within a year",
    "too_little_history": "has under 28 days of usage: too little to project",
}


def _limit_words(match: re.Match[str], value: Any, evidence: Mapping[str, Any]) -> str | None:
    """When the metric reaches its limit, with the 80% interval (said here, not apart)."""
    if match.group(2):
        return None  # the interval: said with the estimate
    metric, name = match.group(1), match.group(0)
    if value is None:
        status = str(evidence.get(f"projection_{metric}"))
        return f"{words(metric)} {_NO_DATE.get(status, 'has no ceiling date')}"
    if value == 0:
        return f"{words(metric)} is at its limit"
    low, high = evidence.get(f"{name}_low"), evidence.get(f"{name}_high")
    interval = ""
    if low is not None:
        top = f"{math.ceil(high)}" if high is not None else "never"
        interval = f" (80%: {math.floor(low)}-{top})"
    return f"{words(metric)} reaches its limit in {in_days(value)}{interval}"


@family(
    rf"days_to_limit_{_METRIC}(?:_(low|high))?",
    "days_to_limit_<metric>[_low|_high]",
    N,
    "days until the metric's 90-day trend reaches the plan's limit (a per-cycle limit: the "
    "daily rate that fills a cycle), with _low and _high the 80% interval; 0 when reached, "
    "missing when not growing, over a year out, or with under 28 days of data (see "
    "projection_<metric>)",
    needs=("usage_daily", "plan_limits"),
    shared="projection",
    describe=_limit_words,
)
def days_to_limit(match: re.Match[str]) -> Compute:
    return _projection_columns(match.group(1))


def _projection_columns(metric: str) -> Compute:
    def compute(ctx: Context) -> ir.Table:
        p = projections(ctx, metric)
        base = f"days_to_limit_{metric}"
        return p.select(
            "account_id",
            "day",
            **{
                base: p.days,
                f"{base}_low": p.low,
                f"{base}_high": p.high,
                f"projection_{metric}": p.status,
            },
        )

    return compute


@family(
    rf"projection_{_METRIC}",
    "projection_<metric>",
    T,
    "why days_to_limit_<metric> has the value it has: projected, reached, not_growing, "
    "not_within_a_year or too_little_history",
    needs=("usage_daily", "plan_limits"),
    shared="projection",
    describe=lambda m, value, evidence: None,  # said with days_to_limit_<metric>
)
def projection_status(match: re.Match[str]) -> Compute:
    return _projection_columns(match.group(1))


def metered(ctx: Context) -> list[str]:
    """The metrics some plan limits, in name order."""
    limits = ctx.table("plan_limits")
    return sorted(limits.select("metric").distinct().to_pyarrow().column("metric").to_pylist())


@signal("days_to_limit", N, "the fewest days_to_limit_<metric> of the plan's metered metrics",
        needs=("usage_daily", "plan_limits"),
        describe=lambda value, _: None if value is None else f"nearest limit in {in_days(value)}",
        )  # fmt: skip
def nearest_limit(ctx: Context) -> ir.Table:
    parts = [projections(ctx, m).select("account_id", "day", "days") for m in metered(ctx)]
    if not parts:
        return ctx.grid().mutate(days_to_limit=ibis.null("float64"))
    every = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    every = every.filter(every.days.notnull())
    return every.group_by(["account_id", "day"]).aggregate(days_to_limit=every.days.min())


@family(
    r"nearest_limit_growth_([1-9]|1[0-2])m",
    "nearest_limit_growth_<N>m",
    N,
    "growth_<metric>_<N>m of the metered metric nearest its limit (the one days_to_limit "
    "names): an early warning that works on any source, whatever its metered metrics are "
    "called",
    needs=("usage_daily", "plan_limits"),
)
def nearest_limit_growth(match: re.Match[str]) -> Compute:
    months = int(match.group(1))
    name = match.group(0)

    def compute(ctx: Context) -> ir.Table:
        parts = []
        for m in metered(ctx):
            days = projections(ctx, m).select("account_id", "day", "days")
            days = days.filter(days.days.notnull())
            g = _growth(m, months, "g")(ctx).rename(g_account="account_id", g_day="day")
            joined = days.left_join(g, (days.account_id == g.g_account) & (days.day == g.g_day))
            parts.append(
                joined.select("account_id", "day", "days", g=joined.g, metric=ibis.literal(m))
            )
        if not parts:
            return ctx.grid().mutate(**{name: ibis.null("float64")})
        every = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
        # the nearest: fewest days to the limit; a tie goes to the metric named first
        first = ibis.row_number().over(
            group_by=["account_id", "day"], order_by=[every.days, every.metric]
        )
        every = every.mutate(_n=first)
        return every.filter(every._n == 0).select("account_id", "day", **{name: every.g})

    return compute

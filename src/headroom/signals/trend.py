"""Growth and trend signals of metered usage: how fast it grows, and when it reaches the limit.

Both are computed with range windows over each account's daily usage rows (one pass over the
usage table, whatever the number of spine days), then read on each spine day from that day's
own row: a day without a usage row for the metric has no value, as stale data should.

*Growth* compares 30-day windows: ``growth_<metric>_<N>m`` is the smallest of the last N
month-over-month changes of the metric's daily mean, so ``growth_api_calls_3m >= 0.08`` reads
"+8% month over month, sustained for 3 months". A window needs at least 20 days of data.

*Projection* fits a least-squares line to the last 90 days of the metric, each day weighted
by exp(-age / 45 days) so that a change of pace shows within weeks, and asks when the line
reaches the limit of the plan in force. A gauge (storage) is fitted on its daily values and
reaches the limit when its value does. A per-cycle limit resets every billing cycle, so what
reaches it is a cycle's total: the line is fitted on the trailing 28-day mean (which also
leaves weekly seasonality out of the slope) against the cycle's daily allowance (limit / 30.44
a day); see :mod:`headroom.signals.crossings`.

How far to trust the line is measured on the source's own history
(:mod:`headroom.signals.calibration`): the median and the 10th and 90th percentiles of how far
off its past projections of the same horizon were turn the line's days into
``days_to_limit_<metric>`` and its 80% interval ``_low`` to ``_high`` (``_high`` missing:
maybe never; both missing: too little history to say). ``projection_<metric>`` says which case
applies:

* ``projected``: a days-to-limit figure exists;
* ``reached``: the latest value (or the cycle's run rate) is at or past the limit: 0 days;
* ``not_growing``: the fitted trend is flat or falling: no date;
* ``not_within_a_year``: the forecast is over 365 days out, or most of the source's past
  forecasts like it had not come true a year on: no date (a straight line that far ahead says
  nothing anyone can act on);
* ``too_little_history``: fewer than 28 days of data in the 90-day window: no date.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.playbook.expressions import SignalType
from headroom.signals.calibration import bin_of, error_quantiles, scaled
from headroom.signals.crossings import (
    CYCLE_WINDOW,
    per_cycle,
    trailing_mean,
    with_level,
    with_threshold,
)
from headroom.signals.registry import Compute, Context, family, signal
from headroom.signals.wording import in_days, words

N, T = SignalType.number, SignalType.text

#: Days of history a projection is fitted on, and the fewest days of data it accepts.
PROJECTION_WINDOW = 90
PROJECTION_MIN_DAYS = 28
#: Days over which a day's weight in the fitted line falls by e: a line that follows a change
#: of pace within weeks, still fitted on 90 days of data. Tried 30, 45 and 60 on the histories
#: of docs/backtest.md: with 45 the median error at 30-60 days ahead is below the unweighted
#: line's on each, and every band's interval holds 75-85%; 30 followed TeamFlow's steady ramps'
#: noise (its 30-60 day error was the plain line's), 60 over-covered its shortest band.
RECENCY_DAYS = 45.0
#: A slope under this share of the level a day is flat (see :func:`daily_line`).
FLAT = 1e-9
#: The furthest ahead a projection gives a date.
PROJECTION_HORIZON = 365
#: A month, for growth windows.
MONTH_DAYS = 30
#: A week: a per-cycle metric's line is fitted on weekly means.
WEEK = 7
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


def projections(ctx: Context, metric: str) -> ir.Table:
    """Per account and spine day: ``status``, ``days``, ``low``, ``high`` for one metric."""
    # kept: the days, the interval, the nearest limit and its growth all read it, and an
    # engine that does not reuse a subquery (Spark) would fit and calibrate it for each
    return ctx.shared(f"_projection_{metric}", lambda: _calibrated(ctx, metric))


def straight_line(ctx: Context, metric: str) -> ir.Table:
    """Per account and spine day: the least-squares line's ``status`` and ``days`` (as far
    ahead as it says, uncalibrated), with the limit's ``threshold`` and ``cycle``."""
    return ctx.once(
        f"_line_{metric}", lambda: daily_line(ctx, metric, per_cycle(ctx, metric), True)
    )


def daily_line(ctx: Context, metric: str, level: bool = False, recency: bool = False) -> ir.Table:
    """A least-squares line through the last 90 days, as :func:`straight_line` says: with
    ``recency`` weighted toward the latest days, and for a per-cycle limit (``level``) reached
    when the trailing 28-day mean is at the limit and projected to get there from the line
    through the weekly means, shifted by the difference of their lags (a line through the
    28-day means would follow a change of pace a fortnight late). With neither, the line as
    it was before forecasts were measured: every metric's daily values, unweighted, against
    the limit (kept to compare with)."""
    u = _usage(ctx, metric, PROJECTION_WINDOW + (CYCLE_WINDOW - 1 if level else 0))
    if level:
        # fitted on whole weeks: a weekly pattern in the daily values would tilt the line
        u = with_level(u).mutate(y=trailing_mean(u, WEEK))
    w = ibis.window(range=(-(PROJECTION_WINDOW - 1), 0), group_by="account_id", order_by="x")
    x, y = ibis.ifelse(u.y.notnull(), u.x.cast("float64"), None), u.y
    # weights exp(x / RECENCY_DAYS): relative to a window's last day they are the same
    # whatever day x counts from, so one pass of window sums serves every day
    wt = (u.x.cast("float64") / RECENCY_DAYS).exp() if recency else ibis.literal(1.0)
    wt = ibis.ifelse(y.notnull(), wt, None)
    sums = u.select(
        "account_id",
        "date",
        x0=u.x.cast("float64"),
        y0=u.level if level else y,
        n=y.count().over(w),
        sw=wt.sum().over(w),
        sx=(wt * x).sum().over(w),
        sy=(wt * y).sum().over(w),
        sxx=(wt * x * x).sum().over(w),
        sxy=(wt * x * y).sum().over(w),
    )
    s = with_threshold(ctx, metric, _on_spine(ctx, sums))
    n = s.sw
    xbar, ybar = s.sx / n, s.sy / n
    slope = (s.sxy - n * xbar * ybar) / (s.sxx - n * xbar * xbar).nullif(0)
    gap = s.threshold - (ybar + slope * (s.x0 - xbar))
    # a trailing mean lags a straight line by half its window: the 28 days' by 13.5, the
    # week's fitted here by 3
    lag = (CYCLE_WINDOW - WEEK) / 2 if level else 0.0
    status = ibis.cases(
        ((s.n < PROJECTION_MIN_DAYS) | s.y0.isnull(), "too_little_history"),
        ((s.y0 >= s.threshold) | ((gap <= 0) & (lag == 0)), "reached"),
        # a flat series' slope comes out of the weighted sums as rounding noise either side
        # of 0: under a billionth of its level a day is no growth by any reading
        (slope.isnull() | (slope <= FLAT * (ybar.abs() + 1.0)), "not_growing"),
        else_="projected",
    )
    ahead = gap / slope + lag
    ahead = ibis.ifelse(ahead < 1.0, 1.0, ahead) if level else ahead  # reached tomorrow at least
    days = ibis.cases((status == "reached", 0.0), (status == "projected", ahead), else_=None)
    return s.select("account_id", "day", "threshold", "cycle", status=status, days=days)


def _calibrated(ctx: Context, metric: str) -> ir.Table:
    line = straight_line(ctx, metric)
    q = error_quantiles(ctx, metric, straight_line)
    mid = q.select(m_month="c_month", m_band="c_band", m_known="known", m_mid="q_mid")
    spread = q.select(s_month="c_month", s_band="c_band", s_known="spread_known",
                      s_low="q_low", s_high="q_high")  # fmt: skip
    line = line.mutate(_month=line.day.truncate("M"))
    p = line.left_join(mid, (line._month == mid.m_month) & (bin_of(line.days) == mid.m_band))
    projected = p.status == "projected"
    sure = projected & p.m_known.fill_null(False)
    days = ibis.ifelse(sure, scaled(p.days, p.m_mid), p.days)
    # known, with no median: most past forecasts like this one had not come true a year on
    far = days.isnull() | (days > PROJECTION_HORIZON)
    status = ibis.cases((projected & far, "not_within_a_year"), else_=p.status)
    p = p.mutate(status=status, days=days, sure=sure)
    p = p.left_join(spread, (p._month == spread.s_month) & (bin_of(p.days) == spread.s_band))
    dated = p.status == "projected"
    reached = p.status == "reached"
    spread_ok = dated & p.sure & p.s_known.fill_null(False)
    return p.select(
        "account_id",
        "day",
        "status",
        days=ibis.cases((reached, 0.0), (dated, p.days), else_=None),
        low=ibis.cases((reached, 0.0), (spread_ok, scaled(p.days, p.s_low)), else_=None),
        high=ibis.cases(
            (reached, 0.0),
            (spread_ok & p.s_high.notnull(), scaled(p.days, p.s_high)),
            else_=None,
        ),
    )


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
    "28-day mean against the daily rate that fills a cycle), with _low and _high the 80% "
    "interval measured on the source's past forecasts; 0 when reached, "
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


def _nearest_words(value: Any, evidence: Mapping[str, Any]) -> str | None:
    if value is None:
        return None
    low, high = evidence.get("days_to_limit_low"), evidence.get("days_to_limit_high")
    interval = ""
    if low is not None and value > 0:
        top = f"{math.ceil(high)}" if high is not None else "never"
        interval = f" (80%: {math.floor(low)}-{top})"
    return f"nearest limit in {in_days(value)}{interval}"


def _nearest(ctx: Context) -> ir.Table:
    """Per account and spine day: the projection of the metered metric nearest its limit
    (``days``, ``low``, ``high``; a tie goes to the metric named first)."""

    def build() -> ir.Table:
        parts = [
            projections(ctx, m).select(
                "account_id", "day", "days", "low", "high", metric=ibis.literal(m)
            )
            for m in metered(ctx)
        ]
        if not parts:
            return ctx.grid().mutate(
                days=ibis.null("float64"), low=ibis.null("float64"), high=ibis.null("float64")
            )
        every = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
        every = every.filter(every.days.notnull())
        first = ibis.row_number().over(
            group_by=["account_id", "day"], order_by=[every.days, every.metric]
        )
        every = every.mutate(_n=first)
        return every.filter(every._n == 0).select("account_id", "day", "days", "low", "high")

    return ctx.shared("_nearest_limit", build)


@signal("days_to_limit", N, "the fewest days_to_limit_<metric> of the plan's metered metrics",
        needs=("usage_daily", "plan_limits"), describe=_nearest_words)  # fmt: skip
def nearest_limit(ctx: Context) -> ir.Table:
    n = _nearest(ctx)
    return n.select("account_id", "day", days_to_limit=n.days)


@signal("days_to_limit_low", N, "the 80% interval's start of days_to_limit (its metric's "
        "days_to_limit_<metric>_low)", needs=("usage_daily", "plan_limits"),
        describe=lambda value, _: None)  # fmt: skip
def nearest_limit_low(ctx: Context) -> ir.Table:
    n = _nearest(ctx)
    return n.select("account_id", "day", days_to_limit_low=n.low)


@signal("days_to_limit_high", N, "the 80% interval's end of days_to_limit (missing: maybe "
        "never)", needs=("usage_daily", "plan_limits"), describe=lambda value, _: None)  # fmt: skip
def nearest_limit_high(ctx: Context) -> ir.Table:
    n = _nearest(ctx)
    return n.select("account_id", "day", days_to_limit_high=n.high)


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

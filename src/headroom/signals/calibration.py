"""How far off the source's own past ceiling forecasts were: the intervals of today's.

A straight line through 90 days of usage says when usage reaches its limit. How far to trust
it is measured rather than assumed: a least-squares interval treats the days as independent,
and daily usage is neither independent nor on one trend for long, so such an interval held a
third of the time in place of 80%.

For the days of a month, the projections made on every 5th day of the year before the month
began are compared with what had happened by its first day: ``log(actual days / forecast
days)``, by horizon band of the forecast. Its 10th, 50th and 90th percentiles scale a new
forecast of the band: the median gives its days, the others its 80% interval. The percentiles
are Kaplan-Meier estimates, so that a projection whose crossing is still to come counts as
"later than so far" instead of being dropped (which would keep only the fast ones). Where under
90% of them have crossed, the interval has no end: "maybe never".

Nothing after the month's first day is read, so a day's forecast is the same whenever it is
computed (no look-ahead), and a run makes one calibration per month its days touch. A band with
fewer than 30 crossings uses the quantiles of every band together; a source with fewer than that
gives a date without an interval, since an interval nobody could check would be a guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from itertools import pairwise

import ibis
import ibis.expr.types as ir

from headroom.signals.crossings import outcomes
from headroom.signals.registry import Context

#: The horizon bands forecasts are calibrated and judged in: days ahead from, up to (the last:
#: and beyond).
BANDS = ((0, 30), (30, 60), (60, 120), (120, None))
#: The straight line's days a forecast is calibrated by: its errors are taken from past
#: forecasts of about the same reach (finer than the bands reported, so that a forecast moved
#: by its calibration into the next band still claims what it holds; finest where a day is a
#: large share of the forecast).
BINS = (0, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 270, 365, 730)
#: The furthest straight-line forecast that calibrates: past it, lines say little about when.
FURTHEST_DAYS = BINS[-1]
#: How far back the projections that calibrate a month were made, and every how many days:
#: not every 7th, which would all fall on one weekday, and a short forecast's error depends
#: on the weekday it is made (measured on docs/backtest.md's planted history, then with a
#: 30-day level: its 0-30 day band held 70% with every 7th day, 76% with every 5th).
CALIBRATION_DAYS = 365
CALIBRATION_EVERY = 5
#: The fewest crossings a band's percentiles are taken from.
MIN_CROSSINGS = 30
#: Where in its day a crossing is taken to fall.
HALF_DAY = 0.5
#: The interval's ends and its middle.
LOW, MIDDLE, HIGH = 0.1, 0.5, 0.9

#: A ceiling forecast before calibration: per account and spine day, ``days`` (null: none),
#: ``threshold`` and ``cycle`` (see :func:`headroom.signals.crossings.with_threshold`).
Raw = Callable[[Context, str], ir.Table]


def error(actual: ir.FloatingValue, forecast: ir.FloatingValue) -> ir.FloatingValue:
    """How far off a forecast was: log(actual / forecast days), a ratio, as errors grow with
    the distance ahead."""
    result: ir.FloatingValue = (actual / forecast).ln()
    return result


def scaled(days: ir.FloatingValue, q: ir.FloatingValue) -> ir.FloatingValue:
    """The days a forecast of ``days`` is with an error of ``q`` (see :func:`error`)."""
    result: ir.FloatingValue = days * q.exp()
    return result


def band_of(days: ir.FloatingValue) -> ir.StringValue:
    """``0-30``, ``30-60``, ``60-120`` or ``120+``: the horizon band of a forecast of ``days``."""
    cases = [((days >= lo) & (days < hi), f"{lo}-{hi}") for lo, hi in BANDS if hi is not None]
    last = BANDS[-1][0]
    result: ir.StringValue = ibis.cases(*cases, (days >= last, f"{last}+"), else_=None)
    return result


def bin_of(days: ir.FloatingValue) -> ir.StringValue:
    """The calibration bin of a straight line's ``days`` (``"30-45"``; null past the last)."""
    cases = [((days >= lo) & (days < hi), f"{lo}-{hi}") for lo, hi in pairwise(BINS)]
    result: ir.StringValue = ibis.cases(*cases, else_=None)
    return result


def bin_names() -> list[str]:
    """The calibration bins in order."""
    return [f"{lo}-{hi}" for lo, hi in pairwise(BINS)]


def band_names() -> list[str]:
    """The bands in order: ``["0-30", "30-60", "60-120", "120+"]``."""
    return [f"{lo}-{hi}" if hi is not None else f"{lo}+" for lo, hi in BANDS]


def months(ctx: Context) -> list[dt.date]:
    """The first days of the months the spine's days fall in."""
    first, last = ctx.first_day.replace(day=1), ctx.as_of.replace(day=1)
    out = [first]
    while out[-1] < last:
        m = out[-1]
        out.append(dt.date(m.year + m.month // 12, m.month % 12 + 1, 1))
    return out


def error_quantiles(ctx: Context, metric: str, raw: Raw) -> ir.Table:
    """Per month (``c_month``, its first day) and calibration bin (``c_band``), from the
    projections ``raw`` made in the year before the month, percentiles of log(actual /
    forecast days):

    * ``q_mid``, the median, of the line's forecasts of days in the bin (``known``: the
      source could tell; known and null: under half of them ever came true);
    * ``q_low`` and ``q_high``, the 10th and 90th percentiles, of the forecasts whose days,
      moved by their median, fall in the bin (``spread_known``; known and ``q_high`` null:
      under 90% ever came true).

    Computed once per context and kept.
    """
    given = ctx.source.calibrations.get(metric)
    if given is not None:  # computed over every account, for an engine holding a few
        return given

    def build() -> ir.Table:
        # a few rows (months x bins), fetched once and handed back as a table of the engine's
        # own: the queries that join it stay small (Spark would otherwise plan the whole
        # calibration into each of them)
        starts = months(ctx)
        rows = _quantiles(ctx, metric, raw).to_pyarrow()
        return ctx.source.small_table(
            f"headroom_calibrated_{metric}_{starts[0]:%Y%m}_{starts[-1]:%Y%m}", ibis.memtable(rows)
        )

    return ctx.once(f"_calibration_{metric}", build)


def _quantiles(ctx: Context, metric: str, raw: Raw) -> ir.Table:
    starts = months(ctx)
    first = starts[0] - dt.timedelta(days=CALIBRATION_DAYS)
    # every account, whatever ctx narrows to: a forecast's interval must not depend on whom
    # else a run looks at
    past = ctx.beside(starts[-1], (starts[-1] - first).days + 1, CALIBRATION_EVERY)
    made = raw(past, metric)
    # computed once and kept: the steps below read these several times, and an engine that
    # does not reuse a subquery (Spark) would replay a year of usage windows for each
    made = ctx.keep(
        made.filter(made.days.notnull() & (made.days > 0) & (made.days <= FURTHEST_DAYS))
    )
    made = outcomes(past, metric, made)
    when = ctx.source.small_table(
        f"headroom_calibration_{starts[0]:%Y%m}_{starts[-1]:%Y%m}",
        ibis.memtable(
            {
                "c_month": starts,
                "c_from": [m - dt.timedelta(days=CALIBRATION_DAYS) for m in starts],
            },
            schema={"c_month": "date", "c_from": "date"},
        ),
    )
    rows = made.inner_join(when, (made.day < when.c_month) & (made.day >= when.c_from))
    crossed = rows.crossed_on.notnull() & (rows.crossed_on <= rows.c_month)
    seen = ibis.least(rows.seen_until, rows.c_month)
    after = ibis.ifelse(crossed, rows.crossed_on, seen).delta(rows.day, unit="day")
    rows = rows.filter(after > 0)  # an account whose data ends on the day tells nothing
    # a crossing seen on day k happened during it: at k - 0.5 on the line's continuous days
    # (whole days would make the short forecasts' ratios jump: 1/2, 2/2, 3/2)
    t = after.cast("float64") - ibis.ifelse(crossed, HALF_DAY, 0.0)
    rows = ctx.keep(rows.select("c_month", "days", t=t, event=crossed))
    grid = when.select("c_month").cross_join(
        ctx.source.small_table(
            "headroom_bins",
            ibis.memtable(
                {"c_band": bin_names(), "c_coarse": [_band_name(lo) for lo in BINS[:-1]]},
                schema={"c_band": "string", "c_coarse": "string"},
            ),
        )
    )
    # first the median, by the line's days: the forecast's own days
    mid = ctx.keep(_percentiles(grid, rows))
    m = mid.select(m_month="c_month", m_band="c_band", m_known="known", m_mid="q_mid")
    rows = rows.mutate(_bin=bin_of(rows.days))
    rows = rows.inner_join(m, (rows.c_month == m.m_month) & (rows._bin == m.m_band))
    # then the interval, by those days: a forecast is shown, and judged, by the days it says
    moved = rows.filter(rows.m_known & rows.m_mid.notnull())
    moved = moved.select("c_month", "t", "event", days=scaled(moved.days, moved.m_mid))
    spread = _percentiles(grid, moved.filter(moved.days <= FURTHEST_DAYS))
    s_ = spread.select(s_month="c_month", s_band="c_band", s_known="known", s_low="q_low",
                       s_high="q_high")  # fmt: skip
    out = mid.inner_join(s_, (mid.c_month == s_.s_month) & (mid.c_band == s_.s_band))
    return out.select(
        "c_month",
        "c_band",
        "known",
        "q_mid",
        spread_known=out.s_known,
        q_low=out.s_low,
        q_high=out.s_high,
    )


def _percentiles(grid: ir.Table, rows: ir.Table) -> ir.Table:
    """Per month and bin of ``grid`` (``c_month``, ``c_band``, ``c_coarse``): the percentiles
    of log(t / days) of ``rows`` (``c_month``, ``days``, ``t``, ``event``) in the bin, or in its
    band where the bin has too few crossings; ``known``: either had enough."""
    r = error(rows.t, rows.days)
    # each forecast counts in its bin and in its band, the band standing in for a bin with
    # too few crossings of its own
    fine = rows.select("c_month", r=r, event="event", band=bin_of(rows.days))
    coarse = rows.select("c_month", r=r, event="event", band=band_of(rows.days))
    q = _kaplan_meier(fine.union(coarse, distinct=False))
    own = q.select(o_month="c_month", o_band="band", o_n="crossings", o_low="q_low",
                   o_mid="q_mid", o_high="q_high")  # fmt: skip
    band = own.select(b_month="o_month", b_band="o_band", b_n="o_n", b_low="o_low",
                      b_mid="o_mid", b_high="o_high")  # fmt: skip
    g = grid.left_join(own, (grid.c_month == own.o_month) & (grid.c_band == own.o_band))
    g = g.left_join(band, (g.c_month == band.b_month) & (g.c_coarse == band.b_band))
    mine = (g.o_n >= MIN_CROSSINGS) & g.o_low.notnull()
    theirs = (g.b_n >= MIN_CROSSINGS) & g.b_low.notnull()

    def pick(a: ir.FloatingValue, b: ir.FloatingValue) -> ir.FloatingValue:
        chosen: ir.FloatingValue = ibis.cases((mine, a), (theirs, b), else_=ibis.null("float64"))
        return chosen

    return g.select(
        "c_month",
        "c_band",
        known=(mine | theirs).fill_null(False),
        q_low=pick(g.o_low, g.b_low),
        q_mid=pick(g.o_mid, g.b_mid),
        q_high=pick(g.o_high, g.b_high),
    )


def _band_name(lo: int) -> str:
    """The name of the band holding the days from ``lo``."""
    (name,) = [n for (b, _), n in zip(BANDS, band_names(), strict=True) if b <= lo][-1:]
    return name


def _kaplan_meier(rows: ir.Table) -> ir.Table:
    """Per ``c_month`` and ``band``: the Kaplan-Meier percentiles of ``r`` (``event``: seen;
    else right-censored at ``r``) and the number of ``crossings``.

    Rows taken one at a time in order, an event before a censored row at the same value: the
    product of (1 - 1/at risk) over a tie of d events is (n - d) / n, as in the textbook form.
    """
    keys = ["c_month", "band"]
    order = [rows.r, (~rows.event)]
    at_risk = rows.r.count().over(ibis.window(group_by=keys)) - ibis.row_number().over(
        ibis.window(group_by=keys, order_by=order)
    )
    # log(0) where the last one at risk crosses: survival 0, every percentile reached
    step = ibis.ifelse(
        rows.event, ibis.greatest(1.0 - 1.0 / at_risk.cast("float64"), 1e-300).ln(), 0.0
    )
    rows = rows.mutate(_step=step)
    ordered = ibis.cumulative_window(group_by=keys, order_by=[rows.r, (~rows.event)])
    survival = rows._step.sum().over(ordered).exp()
    rows = rows.mutate(_f=1.0 - survival)

    def percentile(p: float) -> ir.FloatingValue:
        q: ir.FloatingValue = rows.r.min(where=rows.event & (rows._f >= p - 1e-12))
        return q

    return rows.group_by(keys).aggregate(
        crossings=rows.event.cast("int64").sum(),
        q_low=percentile(LOW),
        q_mid=percentile(MIDDLE),
        q_high=percentile(HIGH),
    )

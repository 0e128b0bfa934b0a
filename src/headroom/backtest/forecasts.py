"""How good the ceiling forecasts were: every projection made on the days of a range, each from
the data up to its own day (no look-ahead), against the day usage really reached the limit.

A projection made on day ``t`` says usage reaches the plan's limit in ``days`` days, likely
between ``low`` and ``high`` (80%; no ``high``: maybe never). The actual crossing is the first
later day whose level reached the limit in force on ``t`` (whatever plan came later: the
forecast was of usage, and an upgrade does not stop it): a gauge's value, or for a per-cycle
limit the mean of the trailing 30 days against the cycle's daily allowance (a cycle's total,
not one busy weekday). An account's data ends on its last day of usage. Scored per metric and
horizon band of the forecast (0-30, 30-60, 60-120, 120+ days ahead):

* ``coverage``: the share of judged projections whose crossing fell inside the interval. A
  projection is judged when it crossed, when its data runs past the interval's end without a
  crossing (outside), or past its start when the interval has no end (inside); one whose data
  ends inside its interval is not judged (so end the range well before the data ends). The
  crossing is seen by the day: one on day k is inside an interval that reaches into day k;
* ``median_abs_error``: over those that crossed, the median of |actual - forecast| in days;
* the "not growing" calls, and the share of them that reached the limit within a year (among
  those with a year of data after them).

Everything is computed in the engine, for all accounts and days at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.errors import UsageError
from headroom.signals.registry import Context
from headroom.signals.trend import PROJECTION_HORIZON, limit_levels, metered, projections
from headroom.sources import Source

#: The horizon bands forecasts are judged in: days ahead from, up to (the last: and beyond).
BANDS = ((0, 30), (30, 60), (60, 120), (120, None))
#: A billing cycle's trailing window, whose daily mean a per-cycle limit is compared with.
CYCLE_WINDOW = 30
#: "Within a year", for the not-growing calls: as far as a projection gives a date.
YEAR = PROJECTION_HORIZON


@dataclass(frozen=True)
class BandScore:
    """One metric's forecasts in one horizon band."""

    metric: str
    band: str
    projections: int
    crossed: int
    judged: int
    coverage: float | None
    median_abs_error: float | None


@dataclass(frozen=True)
class NotGrowing:
    """One metric's "not growing" calls, and how many reached the limit within a year."""

    metric: str
    calls: int
    judged: int
    reached_within_a_year: int
    share: float | None


@dataclass(frozen=True)
class ForecastCheck:
    """The forecasts of a range of days, scored."""

    start: dt.date
    end: dt.date
    data_end: dt.date
    bands: list[BandScore]
    not_growing: list[NotGrowing]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "data_end": self.data_end.isoformat(),
            "bands": [asdict(b) for b in self.bands],
            "not_growing": [asdict(n) for n in self.not_growing],
        }


def check_forecasts(source: Source, start: dt.date, end: dt.date) -> ForecastCheck:
    """Score the projections made on every day from ``start`` to ``end``.

    >>> check = check_forecasts(load(Path("teamflow")), start, end)  # doctest: +SKIP
    >>> [(b.band, b.coverage) for b in check.bands][:1]  # doctest: +SKIP
    [('0-30', 0.56)]
    """
    last = source.table("usage_daily").date.max().to_pyarrow().as_py()
    if last is None:
        raise UsageError(
            "the source has no usage: there is nothing to forecast",
            fix="check a source with a usage_daily table",
        )
    if not start <= end <= last:
        raise UsageError(
            f"the range {start} to {end} is not within the usage data (to {last})",
            fix=f"pass --start and --end with start <= end <= {last}; end it a year before "
            f"{last} to judge forecasts a year ahead",
        )
    bands: list[BandScore] = []
    not_growing: list[NotGrowing] = []
    with (
        Context(source, end, (end - start).days + 1) as ctx,
        Context(source, last, (last - start).days + 1) as truth,
    ):
        for metric in metered(ctx):
            # computed once: the projected and the not-growing ones are both read from it
            made = ctx.keep(with_threshold(ctx, metric, projections(ctx, metric)))
            projected = outcomes(truth, metric, made.filter(made.status == "projected"))
            scored = _scores(_judged(projected))
            for band, row in sorted(scored.items(), key=lambda kv: _order(kv[0])):
                judged = int(row["judged"] or 0)
                bands.append(
                    BandScore(
                        metric,
                        band,
                        int(row["n"]),
                        int(row["crossed"] or 0),
                        judged,
                        int(row["covered"] or 0) / judged if judged else None,
                        row["mae"],
                    )
                )
            flat = outcomes(truth, metric, made.filter(made.status == "not_growing"))
            not_growing.append(_not_growing(metric, flat, last))
    return ForecastCheck(start, end, last, bands, not_growing)


def band_of(days: ir.FloatingValue) -> ir.StringValue:
    """``0-30``, ``30-60``, ``60-120`` or ``120+``: the horizon band of a forecast of ``days``."""
    cases = [((days >= lo) & (days < hi), f"{lo}-{hi}") for lo, hi in BANDS if hi is not None]
    last = BANDS[-1][0]
    result: ir.StringValue = ibis.cases(*cases, (days >= last, f"{last}+"), else_=None)
    return result


def _order(band: str) -> int:
    return int(band.rstrip("+").split("-")[0])


def with_threshold(ctx: Context, metric: str, made: ir.Table) -> ir.Table:
    """Projections (``account_id``, ``day``, ...) with the level that was the limit on their
    day (``threshold``) and whether it is per cycle (``cycle``)."""
    limits = limit_levels(ctx, metric)
    on = (made.account_id == limits.l_account) & (made.day == limits.l_day)
    return made.inner_join(limits, on).drop("l_account", "l_day")


def outcomes(truth: Context, metric: str, made: ir.Table) -> ir.Table:
    """``made`` (account_id, day, threshold, cycle, ...) with ``crossed_on``, the first later
    day the level reached its threshold (null: not by ``seen_until``), and ``seen_until``, the
    account's last day of usage up to ``truth``'s as-of day."""
    u = truth.table("usage_daily")
    u = u.filter((u.metric == metric) & (u.date >= truth.first_day))
    x = u.date.delta(ibis.literal(truth.as_of), unit="day")
    u = u.select("account_id", "date", x=x, y=u.value.cast("float64"))
    cycle = ibis.window(range=(-(CYCLE_WINDOW - 1), 0), group_by="account_id", order_by="x")
    u = u.mutate(yc=u.y.mean().over(cycle))
    last = u.group_by("account_id").aggregate(_last=u.date.max())
    # each account's levels against each threshold its projections aimed at (a few per account)
    targets = made.select(t_account="account_id", t_threshold="threshold", t_cycle="cycle")
    targets = targets.distinct()
    u = u.inner_join(targets, u.account_id == targets.t_account)
    level = ibis.ifelse(u.t_cycle, u.yc, u.y)
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


def _judged(p: ir.Table) -> ir.Table:
    actual = p.crossed_on.delta(p.day, unit="day").cast("float64")
    seen = p.seen_until.delta(p.day, unit="day").cast("float64")
    did = p.crossed_on.notnull()
    open_ = p.high.isnull()  # "maybe never": not crossing after low is inside it
    # crossing on day k means the level got there after day k - 1: inside if the interval
    # meets that day (a forecast of 72.9999 days is not missed by the crossing on day 73)
    inside = (actual >= p.low.floor()) & (open_ | (actual <= p.high.ceil()))
    return p.select(
        band=band_of(p.days),
        did=did,
        judged=did | (~open_ & (seen > p.high)) | (open_ & (seen >= p.low)),
        covered=(did & inside) | (~did & open_ & (seen >= p.low)),
        err=ibis.ifelse(did, (actual - p.days).abs(), ibis.null("float64")),
    )


def _scores(j: ir.Table) -> dict[str, dict[str, Any]]:
    j = j.filter(j.band.notnull())
    rows = (
        j.group_by("band")
        .aggregate(
            n=j.count(),
            crossed=j.did.cast("int64").sum(),
            judged=j.judged.cast("int64").sum(),
            covered=j.covered.cast("int64").sum(),
            mae=j.err.median(),
        )
        .to_pyarrow()
        .to_pylist()
    )
    return {str(r["band"]): r for r in rows}


def _not_growing(metric: str, flat: ir.Table, last: dt.date) -> NotGrowing:
    ahead = flat.crossed_on.delta(flat.day, unit="day")
    within = flat.crossed_on.notnull() & (ahead <= YEAR)
    # judged: a year of data after it, and in it the limit reached or the account still there
    later = ibis.literal(last).delta(flat.day, unit="day") >= YEAR
    year = later & (within | (flat.seen_until.delta(flat.day, unit="day") >= YEAR))
    row = (
        flat.aggregate(
            calls=flat.count(),
            judged=year.cast("int64").sum(),
            reached=(year & within).cast("int64").sum(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    judged, reached = int(row["judged"] or 0), int(row["reached"] or 0)
    share = reached / judged if judged else None
    return NotGrowing(metric, int(row["calls"]), judged, reached, share)

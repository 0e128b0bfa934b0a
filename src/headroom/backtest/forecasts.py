"""How good the ceiling forecasts were: every projection made on the days of a range, each from
the data up to its own day (no look-ahead), against the day usage really reached the limit.

A projection made on day ``t`` says usage reaches the plan's limit in ``days`` days, likely
between ``low`` and ``high`` (80%; no ``high``: maybe never). The actual crossing is the first
later day whose level reached the limit in force on ``t`` (whatever plan came later: the
forecast was of usage, and an upgrade does not stop it): a gauge's value, or for a per-cycle
limit the mean of the trailing 28 days against the cycle's daily allowance (a cycle's total,
not one busy weekday). An account's data ends on its last day of usage. Scored per metric and
horizon band of the forecast (0-30, 30-60, 60-120, 120+ days ahead):

* ``coverage``: the share of judged projections whose crossing fell inside the interval. A
  projection is judged when it crossed, when its data runs past the interval's end without a
  crossing (outside), or past its start when the interval has no end (inside); one whose data
  ends inside its interval is not judged (so end the range well before the data ends).
  A forecast without an interval (too little history to calibrate one) is counted apart;
* ``median_abs_error``: over those that crossed, the median of |actual - forecast| in days;
  ``line_median_abs_error`` the same for the plain least-squares line through the daily values
  (the forecast before it was calibrated), over the crossings both dated: the comparison;
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
from headroom.signals.calibration import HALF_DAY, band_names, band_of
from headroom.signals.crossings import outcomes, with_threshold
from headroom.signals.registry import Context
from headroom.signals.trend import PROJECTION_HORIZON, daily_line, metered, projections
from headroom.sources import Source

#: "Within a year", for the not-growing calls: as far as a projection gives a date.
YEAR = PROJECTION_HORIZON


@dataclass(frozen=True)
class BandScore:
    """One metric's forecasts in one horizon band."""

    metric: str
    band: str
    projections: int
    crossed: int
    #: crossed or not, judged against their interval; without one: counted apart
    judged: int
    no_interval: int
    coverage: float | None
    median_abs_error: float | None
    #: the plain line's median error, and the forecast's, over the crossings both dated
    paired: int
    line_median_abs_error: float | None
    paired_median_abs_error: float | None


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
            made = ctx.keep(with_threshold(ctx, metric, _with_line(ctx, metric)))
            projected = outcomes(truth, metric, made.filter(made.status == "projected"))
            scored = _scores(_judged(projected))
            for band in band_names():
                if (row := scored.get(band)) is None:
                    continue
                judged = int(row["judged"] or 0)
                bands.append(
                    BandScore(
                        metric,
                        band,
                        int(row["n"]),
                        int(row["crossed"] or 0),
                        judged,
                        int(row["no_interval"] or 0),
                        int(row["covered"] or 0) / judged if judged else None,
                        row["mae"],
                        int(row["paired"] or 0),
                        row["line_mae"],
                        row["paired_mae"],
                    )
                )
            flat = outcomes(truth, metric, made.filter(made.status == "not_growing"))
            not_growing.append(_not_growing(metric, flat, last))
    return ForecastCheck(start, end, last, bands, not_growing)


def _with_line(ctx: Context, metric: str) -> ir.Table:
    """The projections with ``line_days``: the plain line's date, where it gave one."""
    line = daily_line(ctx, metric)
    line = line.filter((line.status == "projected") & (line.days <= PROJECTION_HORIZON))
    line = line.select(k_account="account_id", k_day="day", line_days="days")
    made = projections(ctx, metric)
    on = (made.account_id == line.k_account) & (made.day == line.k_day)
    return made.left_join(line, on).drop("k_account", "k_day")


def _judged(p: ir.Table) -> ir.Table:
    # crossed during day k: at k - 0.5, as the forecasts are calibrated
    actual = p.crossed_on.delta(p.day, unit="day").cast("float64") - HALF_DAY
    seen = p.seen_until.delta(p.day, unit="day").cast("float64")
    did = p.crossed_on.notnull()
    open_ = p.high.isnull()  # "maybe never": not crossing after low is inside it
    inside = (actual >= p.low - 1e-9) & (open_ | (actual <= p.high + 1e-9))
    has = p.low.notnull()
    both = did & p.line_days.notnull()
    return p.select(
        band=band_of(p.days),
        did=did,
        judged=has & (did | (~open_ & (seen > p.high)) | (open_ & (seen >= p.low))),
        no_interval=~has,
        covered=has & ((did & inside) | (~did & open_ & (seen >= p.low))),
        err=ibis.ifelse(did, (actual - p.days).abs(), ibis.null("float64")),
        both=both,
        line_err=ibis.ifelse(both, (actual - p.line_days).abs(), ibis.null("float64")),
        paired_err=ibis.ifelse(both, (actual - p.days).abs(), ibis.null("float64")),
    )


def _scores(j: ir.Table) -> dict[str, dict[str, Any]]:
    j = j.filter(j.band.notnull())
    rows = (
        j.group_by("band")
        .aggregate(
            n=j.count(),
            crossed=j.did.cast("int64").sum(),
            judged=j.judged.cast("int64").sum(),
            no_interval=j.no_interval.cast("int64").sum(),
            covered=j.covered.cast("int64").sum(),
            mae=j.err.median(),
            paired=j.both.cast("int64").sum(),
            line_mae=j.line_err.median(),
            paired_mae=j.paired_err.median(),
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

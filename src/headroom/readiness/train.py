"""Train the readiness model on the source's own history, with no look-ahead.

An example is an account on a day it was paying, every 7th day over the year before the
horizon's room runs out: its features are the catalogue's signals on that day (computed from
the data up to it, as a run would), its label whether it expanded in the ``horizon`` days after.
Nothing after ``through`` is read: the last example is ``horizon`` days before it, so that every
label is known by then.

The model is LightGBM's gradient-boosted trees, over scikit-learn's HistGradientBoosting:
both take monotone constraints and missing values, but LightGBM also gives each row's
per-feature contributions (TreeSHAP) that a play's reasons are made of, and trains on 5
million rows within a few GB. Where the sign is known (more seats used, nearer a limit, more
growth) the model is held to it, so that it cannot learn from noise that a fuller account is
less ready. Its probabilities are calibrated on the latest quarter of the examples, which the
trees never saw (Platt scaling: two numbers, steady on a few hundred positives, where an
isotonic fit would follow the noise).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
from scipy.optimize import minimize

from headroom.backtest.replay import number_day
from headroom.errors import UsageError
from headroom.metrics.expansion import expansion_events
from headroom.readiness import measures
from headroom.signals.readiness import Card, Feature, Model, feature_table, matrix
from headroom.signals.registry import Context, signal_table
from headroom.signals.trend import metered
from headroom.sources import Source

#: Every how many days an account's example is taken: neighbouring days are near copies.
EVERY = 7
#: Days of examples before the last one.
HISTORY_DAYS = 365
#: The share of the example days, the latest, kept from the trees to calibrate on (an eighth
#: was tried: no better on TeamFlow's later months, one split up and one down).
CALIBRATION_SHARE = 0.25
#: The boosting: small trees, many of them, slowly; fixed, so that a rerun is the same model.
PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "num_threads": 2,
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
ROUNDS = 200
#: The text signals read, coded by their values. Not ``health``: the accounts table holds it as
#: it is now, so on a past day it would tell the model how the account turned out.
TEXT = ("segment",)


def candidates(ctx: Context) -> list[Feature]:
    """The signals a model of this source reads, with the sign each is held to: the account's
    size and use of what it pays for, how near and how fast it nears its limits, what it did
    lately (each event of the source, 7 and 30 days), its company's growth, and for how long
    it has been a customer."""
    src = ctx.source
    out = [
        Feature("seat_utilisation", +1),
        Feature("seats"),
        Feature("active_users"),
        Feature("power_users", +1),
        Feature("acv"),
        Feature("tier_rank"),
        Feature("tenure_days"),
        Feature("days_since_expansion"),
    ]
    if src.has("plan_limits") and src.has("usage_daily"):
        # not nearest_limit_growth_<N>m: it is read through the calibrated projection, a year
        # of calibration to score a day, for what the metrics' own growths below already say
        out.append(Feature("limit_share", +1))
        out += [Feature(f"limit_share_{m}", +1) for m in metered(ctx)]
    if src.has("usage_daily"):
        # each metric's growth over one month and held over three: a climb (seats filling up,
        # use nearing a limit) against a level that has always been high, or a jump that passes
        # (on TeamFlow: AUC +0.01 to +0.02 on the later months, and a little more precise at
        # the hand rules' volumes, three times in four)
        for m in _names(ctx.table("usage_daily"), "metric"):
            out += [Feature(f"growth_{m}_1m", +1), Feature(f"growth_{m}_3m", +1)]
    if src.has("firmographics"):
        out.append(Feature("headcount_growth_90d", +1))
    if src.has("events"):
        for name in _names(ctx.table("events"), "event"):
            out += [Feature(f"events_{name}_7d"), Feature(f"events_{name}_30d")]
    return out


def _names(table: ir.Table, column: str) -> list[str]:
    """The values of ``column`` that can be part of a signal's name (a lower-case letter, then
    lower-case letters, digits and underscores), in order."""
    found = table.select(column).distinct().order_by(column).to_pyarrow().column(0).to_pylist()
    return [n for n in found if n and re.fullmatch(r"[a-z][a-z0-9_]*", n)]


def with_categories(ctx: Context, features: Sequence[Feature]) -> list[Feature]:
    """``features`` and the text signals, each with the values it takes on the spine."""
    t = signal_table(ctx, set(TEXT))
    out = list(features)
    for name in TEXT:
        values = t.select(v=t[name]).distinct().order_by("v").to_pyarrow().column(0).to_pylist()
        found = tuple(v for v in values if v is not None)
        if found:
            out.append(Feature(name, 0, found))
    return out


@dataclass(frozen=True)
class Examples:
    """Feature rows (in the features' order), their labels and days, oldest first."""

    features: tuple[Feature, ...]
    x: np.ndarray
    y: np.ndarray
    day: np.ndarray  # days since the epoch


def examples(
    source: Source,
    features: Sequence[Feature] | None,
    first: dt.date,
    last: dt.date,
    horizon: int,
    every: int = EVERY,
) -> Examples:
    """The paying account-days every ``every``-th day from ``first`` to ``last``, labelled with
    whether the account expanded in the ``horizon`` days after (expansions read to
    ``last + horizon``, no further). ``features`` None: the source's candidates."""
    through = last + dt.timedelta(days=horizon)
    with Context(source, last, (last - first).days + 1, every=every) as ctx:
        feats = (
            tuple(features)
            if features is not None
            else tuple(with_categories(ctx, candidates(ctx)))
        )
        t = feature_table(ctx, feats, also=("paying",))
        t = t.filter(t.paying.fill_null(False)).drop("paying")
        t = t.inner_join(_labels(source, t, horizon, through), ["account_id", "day"])
        rows = t.order_by(["day", "account_id"]).to_pyarrow()
    return Examples(
        feats,
        matrix(rows, feats),
        rows.column("label").to_numpy().astype(np.int8),
        _day_numbers(rows.column("day")),
    )


def _labels(source: Source, t: ir.Table, horizon: int, through: dt.date) -> ir.Table:
    """Per (account, day) of ``t``: ``label``, whether it expanded in the horizon after."""
    keys = t.select("account_id", "day")
    e = expansion_events(source, through)
    e = e.select(e_account="account_id", e_date="date")
    ahead = e.e_date.delta(keys.day, unit="day")
    j = keys.left_join(e, (keys.account_id == e.e_account) & (ahead >= 1) & (ahead <= horizon))
    return j.group_by(["account_id", "day"]).aggregate(label=j.e_date.count() > 0)


def _day_numbers(days: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(days.cast(pa.int32()).to_numpy(), dtype=np.int64)


def train(
    source: Source,
    through: dt.date,
    horizon: int = 90,
    history: int = HISTORY_DAYS,
    version: int = 0,
) -> Model:
    """A model trained on the examples up to ``through - horizon`` (a year of them), calibrated
    on their latest quarter; its card numbered ``version`` (0: not kept yet; keeping it,
    :func:`headroom.signals.readiness.save` numbers it)."""
    if horizon < 1:
        raise UsageError(f"--horizon-days {horizon} is not a positive number", fix="use e.g. 90")
    last = through - dt.timedelta(days=horizon)
    first = last - dt.timedelta(days=history - 1)
    data = examples(source, None, first, last, horizon)
    return fit(data, source.name, through, horizon, version)


def fit(data: Examples, trained_on: str, through: dt.date, horizon: int, version: int = 0) -> Model:
    """Boost on the earlier days of ``data``, calibrate on the later ones."""
    import lightgbm

    if len(data.y) == 0:
        raise UsageError(
            "there are no paying accounts to learn from before the horizon",
            fix="pass a later --through, or a source with a longer history",
        )
    days = np.unique(data.day)
    cut = days[min(len(days) - 1, int(len(days) * (1 - CALIBRATION_SHARE)))]
    early, late = data.day < cut, data.day >= cut
    for part, where in ((early, "before"), (late, "in")):
        n, pos = int(part.sum()), int(data.y[part].sum())
        if pos == 0 or pos == n:
            raise UsageError(
                f"the examples {where} the calibration quarter have {pos:,} expansions in "
                f"{n:,}: a model needs both outcomes to learn from",
                fix="pass a later --through, or a longer history with expansions",
            )
    feats = data.features
    params = {
        **PARAMS,
        "monotone_constraints": [f.sign for f in feats],
    }
    text = [i for i, f in enumerate(feats) if f.categories]
    train_set = lightgbm.Dataset(
        data.x[early],
        label=data.y[early],
        feature_name=[f.name for f in feats],
        categorical_feature=text or "auto",
        free_raw_data=True,
    )
    booster = lightgbm.train(params, train_set, num_boost_round=ROUNDS)
    margin = np.asarray(booster.predict(data.x[late], raw_score=True), dtype=np.float64)
    a, b = platt(margin, data.y[late].astype(np.float64))
    card = Card(
        version=version,
        trained_on=trained_on,
        through=through,
        horizon_days=horizon,
        features=feats,
        platt=(a, b),
        train_days=(number_day(int(days[0])), number_day(int(data.day[early].max()))),
        calibration_days=(number_day(int(cut)), number_day(int(days[-1]))),
        rows=len(data.y),
        positives=int(data.y.sum()),
        trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    model = Model(booster, card)
    p = model.probability(data.x[late])
    y = data.y[late]
    metrics = {
        "auc": measures.auc(p, y),
        "average_precision": measures.average_precision(p, y),
        "brier": measures.brier(p, y),
        "calibration_error": measures.calibration_error(p, y),
        "base_rate": float(y.mean()),
    }
    return Model(booster, dataclasses.replace(card, metrics=metrics))


def platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The a and b of p = 1 / (1 + exp(-(a m + b))) of least log loss on (margin, y).

    >>> a, b = platt(np.array([-2.0, -1.0, 0.0, 1.0, 2.0] * 20), np.array([0, 0, 1, 0, 1] * 20))
    >>> round(a, 2) > 0
    True
    """

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * margin + ab[1]
        # log(1 + e^z) - y z, written to stay finite for large |z|
        value = float(np.sum(np.logaddexp(0.0, z) - y * z))
        g = 1.0 / (1.0 + np.exp(-z)) - y
        return value, np.array([float(np.sum(g * margin)), float(np.sum(g))])

    found = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(found.x[0]), float(found.x[1])

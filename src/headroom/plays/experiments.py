"""What the plays caused: each trigger's treated accounts against its held-out ones.

A trigger with ``holdout: 10%`` draws each account it fires for into one of two arms (see
:mod:`headroom.triggers.holdout`): most get the play, a tenth are recorded and left alone. The
draw is random, so the arms differ only by the play, and the difference in what they did next
is what the play caused.

Each account counts once per trigger, from the day it was first drawn (intention to treat: a
treated account whose play nobody worked still counts as treated). Its outcome is whether it
expanded within the horizon after that day, and by how much MRR (the source's expansions:
days its MRR rose). Only accounts whose horizon has passed by the end of the data are counted,
so a counted account's outcome never changes.

* **Rates**: the share of each arm that expanded; the uplift (treated minus held out) with
  Newcombe's hybrid score interval (95%), its two-sided p-value from the pooled two-proportion
  z test, and the uplift relative to the held-out rate.
* **Money**: expansion MRR per account in each arm; the difference, with a percentile bootstrap
  interval (2,000 resamples of each arm, seeded: the same report every time), times 12 times the
  treated accounts is the incremental expansion ARR.
* **Sample ratio**: the arms' sizes against the configured split (chi-squared, one degree of
  freedom). A p-value under 0.001 means the draw is not what it claims (a tampered split, plays
  recorded outside the draw): the report says so first, as nothing after it can be trusted.
* **Repeated looks**: the horizon and the planned effect are set before looking; the p-value is
  valid once the held-out arm reaches the size that detects the planned effect at 80% power
  (``planned_held_out``). Until then the report says how many more days that takes at the
  current volume; stopping early on a p-value under 5% after weekly looks would declare far
  more than 5% of no-effect triggers significant.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import ibis
import numpy as np
import yaml
from scipy import stats

from headroom.errors import UsageError
from headroom.metrics.expansion import expansion_events
from headroom.playbook.model import Playbook, PlaybookModel
from headroom.sources import Source
from headroom.store.models import Play

#: Two-sided 95% intervals; power for the planned effect.
LEVEL, POWER = 0.95, 0.80
#: A sample-ratio p-value under this says the arms were not drawn as configured.
SRM_ALPHA = 0.001
BOOTSTRAP = 2000
SEED = 20261207


@dataclass(frozen=True)
class TriggerResult:
    """One trigger's experiment (or ``overall``: every trigger's accounts together)."""

    trigger: str
    holdout: float | None  # the configured share (None overall)
    treated: int
    held_out: int
    pending: int  # drawn, their horizon not over yet: not counted
    rate_treated: float | None
    rate_held_out: float | None
    uplift: float | None
    uplift_low: float | None
    uplift_high: float | None
    relative_uplift: float | None
    p_value: float | None
    mrr_treated: float | None  # expansion MRR per account
    mrr_held_out: float | None
    incremental_arr: float | None
    incremental_arr_low: float | None
    incremental_arr_high: float | None
    srm_p_value: float | None
    sample_ratio_mismatch: bool
    planned_held_out: int | None  # held-out accounts that detect the planned effect
    days_to_detect: int | None  # at the current volume (0: reached)


@dataclass(frozen=True)
class Design:
    """The experiment as one playbook version set it: its holdouts, and the plays drawn
    under it (starting, re-splitting or stopping an experiment is a new version)."""

    version: str
    first_fired: dt.date
    last_fired: dt.date
    plays: int
    holdouts: dict[str, float]  # by trigger (empty: the version's text is not in the store)


@dataclass(frozen=True)
class Cumulative:
    """Every trigger's accounts first drawn by the end of ``month``, together."""

    month: dt.date  # its first day
    treated: int
    held_out: int
    incremental_arr: float | None
    incremental_arr_low: float | None
    incremental_arr_high: float | None


@dataclass(frozen=True)
class Experiments:
    """Every holdout trigger's experiment, and all of them together."""

    experiment: str
    horizon_days: int
    effect: float
    data_end: dt.date
    triggers: list[TriggerResult]
    overall: TriggerResult | None
    #: incremental expansion ARR of the accounts drawn by the end of each month: over time
    cumulative: list[Cumulative]
    #: the playbook versions the accounts were drawn under, oldest first
    designs: list[Design]

    @property
    def mismatched(self) -> list[str]:
        """The triggers whose arms are not the configured split (said first)."""
        return [t.trigger for t in self.triggers if t.sample_ratio_mismatch]

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "horizon_days": self.horizon_days,
            "effect": self.effect,
            "data_end": self.data_end.isoformat(),
            "sample_ratio_mismatch": self.mismatched,
            "triggers": [asdict(t) for t in self.triggers],
            "overall": None if self.overall is None else asdict(self.overall),
            "cumulative": [asdict(c) | {"month": c.month.isoformat()} for c in self.cumulative],
            "designs": [
                asdict(d)
                | {"first_fired": d.first_fired.isoformat(), "last_fired": d.last_fired.isoformat()}
                for d in self.designs
            ],
        }


def experiments(
    book: Playbook,
    plays: Sequence[Play],
    source: Source,
    through: dt.date,
    horizon_days: int = 90,
    effect: float = 0.05,
    versions: Mapping[str, str] | None = None,
) -> Experiments:
    """Treated against held-out accounts of each trigger with a holdout, counted to ``through``
    (the last day of the data: an account counts once its horizon is over by then).
    ``versions``: the stored playbook texts by version, to say each design's holdouts (and to
    expect each account's arm at the share it was drawn with).

    >>> result = experiments(book, store.plays(), source, dt.date(2026, 9, 30))  # doctest: +SKIP
    >>> result.triggers[0].uplift_low > 0  # doctest: +SKIP
    True
    """
    if horizon_days < 1:
        raise UsageError(
            f"--horizon-days must be at least 1, got {horizon_days}",
            fix="pass the days after a play its expansion counts in, e.g. --horizon-days 90",
        )
    if not 0 < effect < 1:
        raise UsageError(
            f"--effect must be a share between 0 and 1, got {effect}",
            fix="pass the uplift in expansion rate to detect, e.g. --effect 0.05 (5 points)",
        )
    name = book.model.experiment_name
    end = through
    drawn = [p for p in plays if p.experiment == name and p.arm is not None]
    first: dict[tuple[str, str], tuple[dt.date, str]] = {}
    drawn_with: dict[tuple[str, str], str] = {}  # the playbook version of the first draw
    for p in sorted(drawn, key=lambda p: p.fired_on):  # plays, not account data: a few a day
        if (p.trigger, p.account_id) not in first:
            first[(p.trigger, p.account_id)] = (p.fired_on, p.arm or "")
            drawn_with[(p.trigger, p.account_id)] = p.playbook_version
    designs = _designs(drawn, versions or {})
    shares_of = {d.version: d.holdouts for d in designs}
    outcomes = _outcomes(source, first, horizon_days, end)
    results = []
    for trigger in book.model.triggers:
        share = book.model.holdout_of(trigger)
        mine = {k: v for k, v in first.items() if k[0] == trigger.id}
        if not share and not mine:
            continue
        # each account expected in the held-out arm at the share it was drawn with
        expected = {k: shares_of.get(drawn_with[k], {}).get(k[0], share) for k in mine}
        results.append(
            _result(trigger.id, share, mine, outcomes, horizon_days, effect, end, expected)
        )
    overall = None
    if len(results) > 1:
        overall = _result("overall", None, first, outcomes, horizon_days, effect, end)
    elif results:
        overall = results[0]
    counted = sorted({v[0].replace(day=1) for k, v in first.items() if k in outcomes})
    cumulative = []
    for month in counted:
        after = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
        upto = {k: v for k, v in first.items() if v[0] < after}
        r = _result("overall", None, upto, outcomes, horizon_days, effect, end)
        cumulative.append(
            Cumulative(month, r.treated, r.held_out, r.incremental_arr, r.incremental_arr_low,
                       r.incremental_arr_high)
        )  # fmt: skip
    return Experiments(name, horizon_days, effect, end, results, overall, cumulative, designs)


def _designs(plays: Sequence[Play], versions: Mapping[str, str]) -> list[Design]:
    """The playbook versions ``plays`` were drawn under, with each one's holdouts."""
    by: dict[str, list[dt.date]] = {}
    for p in plays:
        by.setdefault(p.playbook_version, []).append(p.fired_on)
    out = []
    for version, days in by.items():
        holdouts: dict[str, float] = {}
        text = versions.get(version)
        if text is not None:
            model = PlaybookModel.model_validate(yaml.safe_load(text))
            holdouts = {t.id: model.holdout_of(t) for t in model.triggers}
        out.append(Design(version, min(days), max(days), len(days), holdouts))
    return sorted(out, key=lambda d: (d.first_fired, d.version))


def _outcomes(
    source: Source,
    first: dict[tuple[str, str], tuple[dt.date, str]],
    horizon: int,
    end: dt.date,
) -> dict[tuple[str, str], tuple[bool, float]]:
    """Per (trigger, account) whose horizon is over by ``end``: whether it expanded within the
    horizon after its first day, and the expansion MRR it added then. Joined in the engine."""
    keys = [(k, v) for k, v in first.items() if v[0] + dt.timedelta(days=horizon) <= end]
    if not keys:
        return {}
    drawn = ibis.memtable(
        {
            "trigger": [k[0] for k, _ in keys],
            "d_account": [k[1] for k, _ in keys],
            "since": [v[0] for _, v in keys],
            "until": [v[0] + dt.timedelta(days=horizon) for _, v in keys],
        },
        schema={"trigger": "string", "d_account": "string", "since": "date", "until": "date"},
    )
    drawn = source.small_table("headroom_experiment_accounts", drawn)
    events = expansion_events(source, end).select("account_id", "date", "delta_mrr")
    on = (
        (drawn.d_account == events.account_id)
        & (events.date > drawn.since)
        & (events.date <= drawn.until)
    )
    j = drawn.left_join(events, on)
    rows = (
        j.group_by(["trigger", "d_account"])
        .aggregate(n=j.date.count(), mrr=j.delta_mrr.sum().cast("float64"))
        .to_pyarrow()
        .to_pylist()
    )
    return {(r["trigger"], r["d_account"]): (r["n"] > 0, float(r["mrr"] or 0.0)) for r in rows}


def _result(
    trigger: str,
    share: float | None,
    mine: dict[tuple[str, str], tuple[dt.date, str]],
    outcomes: dict[tuple[str, str], tuple[bool, float]],
    horizon: int,
    effect: float,
    end: dt.date,
    expected: Mapping[tuple[str, str], float] | None = None,
) -> TriggerResult:
    counted = {k: outcomes[k] for k in mine if k in outcomes}
    arms = {k: mine[k][1] for k in counted}
    t = np.array([counted[k] for k in counted if arms[k] == "treated"], dtype=float).reshape(-1, 2)
    c = np.array([counted[k] for k in counted if arms[k] == "held_out"], dtype=float).reshape(-1, 2)
    n_t, n_c = len(t), len(c)
    x_t, x_c = int(t[:, 0].sum()), int(c[:, 0].sum())
    rate_t = x_t / n_t if n_t else None
    rate_c = x_c / n_c if n_c else None
    uplift = low = high = p_value = relative = None
    if n_t and n_c:
        uplift, low, high = newcombe(x_t, n_t, x_c, n_c)
        p_value = two_proportion_p(x_t, n_t, x_c, n_c)
        relative = uplift / rate_c if rate_c else None
    mrr_t = float(t[:, 1].mean()) if n_t else None
    mrr_c = float(c[:, 1].mean()) if n_c else None
    arr = arr_low = arr_high = None
    if n_t and n_c and mrr_t is not None and mrr_c is not None:
        d_low, d_high = bootstrap_difference(t[:, 1], c[:, 1])
        arr = 12 * (mrr_t - mrr_c) * n_t
        arr_low, arr_high = 12 * d_low * n_t, 12 * d_high * n_t
    srm_p = None
    if share and n_t + n_c:
        shares = [expected[k] for k in counted] if expected else [share] * (n_t + n_c)
        srm_p = sample_ratio_p(n_c, shares)
    pending = sum(1 for k in mine if k not in outcomes)
    planned = days = None
    split = share if share else (n_c / (n_t + n_c) if n_t + n_c else None)
    if split:
        base = rate_c if rate_c is not None else (rate_t if rate_t is not None else 0.1)
        planned = held_out_needed(base, effect, split)
        firsts = [v[0] for v in mine.values()]
        enrolled = sum(1 for v in mine.values() if v[1] == "held_out")
        span = max((end - min(firsts)).days, 1) if firsts else 1
        per_day = enrolled / span
        if n_c >= planned:
            days = 0
        elif enrolled >= planned:
            days = horizon  # drawn already: their horizons have yet to pass
        elif per_day > 0:
            days = math.ceil((planned - enrolled) / per_day) + horizon
    return TriggerResult(
        trigger=trigger,
        holdout=share,
        treated=n_t,
        held_out=n_c,
        pending=pending,
        rate_treated=rate_t,
        rate_held_out=rate_c,
        uplift=uplift,
        uplift_low=low,
        uplift_high=high,
        relative_uplift=relative,
        p_value=p_value,
        mrr_treated=mrr_t,
        mrr_held_out=mrr_c,
        incremental_arr=arr,
        incremental_arr_low=arr_low,
        incremental_arr_high=arr_high,
        srm_p_value=srm_p,
        sample_ratio_mismatch=srm_p is not None and srm_p < SRM_ALPHA,
        planned_held_out=planned,
        days_to_detect=days,
    )


# -- the statistics -----------------------------------------------------------------------------


def _z(level: float = LEVEL) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson(x: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson's score interval of a proportion ``x / n``.

    >>> [round(v, 4) for v in wilson(81, 263)]
    [0.2553, 0.3662]
    """
    z = _z(level)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def newcombe(x1: int, n1: int, x2: int, n2: int, level: float = LEVEL) -> tuple[float, ...]:
    """``p1 - p2`` with Newcombe's hybrid score interval (his method 10, from each
    proportion's Wilson interval).

    Newcombe (1998), example (h): 56/70 against 48/80:

    >>> [round(v, 4) for v in newcombe(56, 70, 48, 80)]
    [0.2, 0.0524, 0.3339]
    """
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, level)
    l2, u2 = wilson(x2, n2, level)
    d = p1 - p2
    return (
        d,
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """The two-sided p-value of the pooled two-proportion z test (1 when nobody, or
    everybody, expanded: no difference can show)."""
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / se
    return float(2 * stats.norm.sf(abs(z)))


def bootstrap_difference(
    treated: np.ndarray, held: np.ndarray, level: float = LEVEL
) -> tuple[float, float]:
    """The percentile bootstrap interval of mean(treated) - mean(held), each arm resampled
    apart, ``BOOTSTRAP`` times with a fixed seed."""
    rng = np.random.default_rng(SEED)
    means = np.empty(BOOTSTRAP)
    for b in range(BOOTSTRAP):  # resamples, not accounts: each is one vectorised draw
        means[b] = rng.choice(treated, len(treated)).mean() - rng.choice(held, len(held)).mean()
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def sample_ratio_p(held: int, shares: Sequence[float]) -> float:
    """The two-sided p-value of ``held`` held-out accounts among accounts each held out with
    its share of ``shares`` (the split they were drawn with). With one share for all, this is
    the chi-squared test of the two arms' sizes.

    >>> round(sample_ratio_p(91, [0.2] * 500), 3)
    0.314
    """
    mean = sum(shares)
    var = sum(s * (1 - s) for s in shares)
    if var == 0:
        return 1.0 if held == round(mean) else 0.0
    z = (held - mean) / math.sqrt(var)
    return float(2 * stats.norm.sf(abs(z)))


def held_out_needed(base: float, effect: float, share: float) -> int:
    """Held-out accounts that detect a rise of ``effect`` over a rate of ``base`` at 80% power
    (two-sided 5%), with ``share`` of the accounts held out.

    >>> held_out_needed(0.10, 0.05, 0.5)
    686
    """
    treated = min(base + effect, 0.999)
    k = (1 - share) / share  # treated per held-out account
    pooled = (base + k * treated) / (1 + k)
    za, zb = _z(), float(stats.norm.ppf(POWER))
    need = (
        za * math.sqrt(pooled * (1 - pooled) * (1 + 1 / k))
        + zb * math.sqrt(base * (1 - base) + treated * (1 - treated) / k)
    ) ** 2 / (treated - base) ** 2
    return math.ceil(need)

"""How well a replay's firings foretold real expansions.

For a horizon of H days, computed in the engine over every firing and expansion:

``precision``
    the share of firings followed by an expansion of the account within H days (after the day
    it fired, up to H days later);
``recall``
    the share of the expansions in the replayed range preceded by a firing within H days;
``lift``
    precision over the base rate: the share of the replayed account-days in the expansion stage
    that were followed by an expansion within H days (what firing on a random eligible day
    would have achieved);
``median_lead_days``
    over the expansions a trigger foretold, the days from its first firing in the H days before
    the expansion to the expansion;
``revenue_in_gap``
    over the same expansions, the expansion's MRR times the months between that first firing
    and the expansion: what earlier action could have earned.

Expansions are read from all the data, also after the replayed range: judging a firing needs the
H days after it. The decisions themselves never saw them (see :mod:`headroom.backtest.replay`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.backtest.replay import Replay, number_of
from headroom.metrics.expansion import expansion_events
from headroom.signals.steps import day_number
from headroom.sources import Source

#: The horizons of the precision and recall chart (the backtest's own horizon is added).
HORIZONS = (14, 30, 60, 90, 180)
#: Days in an average month, for the revenue in the gap.
MONTH_DAYS = 365.25 / 12
#: The row of all triggers together (an account-day counts once however many fired).
ALL = "(all)"


@dataclass(frozen=True)
class Score:
    """One trigger's accuracy (``segment`` None: all segments)."""

    trigger: str
    segment: str | None
    fired: int
    accounts: int
    expansions: int  # in the range (of the segment): the recall's denominator
    foretold: int  # of those, preceded by a firing within the horizon
    precision: float | None
    recall: float | None
    lift: float | None
    median_lead_days: float | None
    revenue_in_gap: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.segment is None:
            del out["segment"]
        return out


@dataclass(frozen=True)
class Backtest:
    start: dt.date
    end: dt.date
    horizon_days: int
    base_rate: float | None
    triggers: list[Score]  # per trigger in playbook order, then ALL
    by_segment: list[Score]
    by_horizon: list[dict[str, Any]]  # trigger, horizon_days, precision, recall, lift
    #: The base rates were read on every n-th day of the range (1: every day; see
    #: :data:`headroom.backtest.sparse.STAGE_SAMPLE`).
    base_rate_every_nth_day: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "horizon_days": self.horizon_days,
            "base_rate": self.base_rate,
            "base_rate_every_nth_day": self.base_rate_every_nth_day,
            "triggers": [s.to_dict() for s in self.triggers],
            "by_segment": [s.to_dict() for s in self.by_segment],
            "by_horizon": self.by_horizon,
        }


def score(source: Source, replayed: Replay, detail: bool = True) -> Backtest:
    """Precision, recall, lift, lead time and revenue in the gap of a replay's firings (with
    ``detail``, also by segment and by horizon)."""
    h = replayed.horizon
    truth = expansion_events(source, replayed.end + dt.timedelta(days=h))
    truth = truth.select(
        "account_id", xn=day_number(truth.date), delta=truth.delta_mrr.cast("float64")
    )
    accounts = source.table("accounts")
    segments = accounts.select(_s_account="account_id", segment="segment")

    def with_segment(t: ir.Table) -> ir.Table:
        j = t.left_join(segments, t.account_id == segments._s_account).drop("_s_account")
        return j.mutate(segment=ibis.coalesce(j.segment, ibis.literal("(none)")))

    firings = replayed.firings
    every = firings.select("account_id", "dn").distinct().mutate(trigger=ibis.literal(ALL))
    span = (number_of(replayed.start), number_of(replayed.end))
    order = [*replayed.triggers, ALL]
    kept: list[ir.Table] = []

    def keep(t: ir.Table) -> ir.Table:
        kept.append(source.cache(t))
        return kept[-1]

    try:
        # Stored once for every group and horizon: each firing's and stage day's days to the
        # account's next expansion, and their segments.
        truth = keep(truth)
        fired = keep(
            _ahead(with_segment(firings.union(every.select("account_id", "trigger", "dn"))), truth)
        )
        stage = keep(_ahead(with_segment(replayed.in_stage), truth))
        truth = keep(with_segment(truth))
        overall = _scores(fired, truth, stage, span, h, None)[None]
        triggers = [_row(t, None, overall) for t in order]
        by_segment: list[Score] = []
        by_horizon: list[dict[str, Any]] = []
        if detail:
            per_segment = _scores(fired, truth, stage, span, h, "segment")
            by_segment = [
                _row(t, seg, per_segment[seg]) for seg in sorted(per_segment) for t in order
            ]
            for days in sorted({*HORIZONS, h}):
                group = (
                    overall if days == h else _scores(fired, truth, stage, span, days, None)[None]
                )
                for t in order:
                    row = _row(t, None, group)
                    by_horizon.append(
                        {
                            "trigger": t,
                            "horizon_days": days,
                            "precision": row.precision,
                            "recall": row.recall,
                            "lift": row.lift,
                        }
                    )
    finally:
        for t in kept:
            t.release()
    return Backtest(
        replayed.start,
        replayed.end,
        h,
        overall.base_rate,
        triggers,
        by_segment,
        by_horizon,
        replayed.stage_every,
    )


@dataclass
class _Group:
    """The counts of one group of account-days (all, or one segment), per trigger."""

    stage_days: int = 0
    stage_hits: int = 0
    expansions: int = 0
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def base_rate(self) -> float | None:
        return self.stage_hits / self.stage_days if self.stage_days else None


def _rows(t: ir.Table) -> list[dict[str, Any]]:
    return list(t.to_pyarrow().to_pylist())


def _scores(
    fired: ir.Table,
    truth: ir.Table,
    stage: ir.Table,
    span: tuple[int, int],
    h: int,
    by: str | None,
) -> dict[Any, _Group]:
    """The counts behind the scores, per value of ``by`` (None: one group, key None)."""
    g = [by] if by else []
    keys = ["trigger", *g]
    groups: dict[Any, _Group] = {}

    def group(row: dict[str, Any]) -> _Group:
        return groups.setdefault(row[by] if by else None, _Group())

    # The stage's account-days, and those followed by an expansion within the horizon.
    hit_days = stage.filter(stage._ahead <= h)
    for row in _rows(
        stage.group_by(g).aggregate(n=stage.count()) if g else stage.aggregate(n=stage.count())
    ):
        group(row).stage_days = row["n"]
    for row in _rows(
        hit_days.group_by(g).aggregate(n=hit_days.count())
        if g
        else hit_days.aggregate(n=hit_days.count())
    ):
        group(row).stage_hits = row["n"]
    # Firings, and those followed by an expansion within the horizon.
    counts = fired.group_by(keys).aggregate(
        fired=fired.count(), accounts=fired.account_id.nunique()
    )
    for row in _rows(counts):
        group(row).triggers.setdefault(row["trigger"], {}).update(row)
    hits = fired.filter(fired._ahead <= h)
    for row in _rows(hits.group_by(keys).aggregate(hits=hits.count())):
        group(row).triggers.setdefault(row["trigger"], {})["hits"] = row["hits"]
    # Expansions in the range, and those a firing foretold within the horizon.
    in_range = truth.filter((truth.xn > span[0]) & (truth.xn <= span[1]))
    n = (
        in_range.group_by(g).aggregate(n=in_range.count())
        if g
        else in_range.aggregate(n=in_range.count())
    )
    for row in _rows(n):
        group(row).expansions = row["n"]
    r = in_range.select(_x_account="account_id", _xn="xn", _delta="delta")
    seen = fired.inner_join(
        r, (fired.account_id == r._x_account) & (fired.dn >= r._xn - h) & (fired.dn < r._xn)
    )
    first = seen.group_by([*keys, "_x_account", "_xn"]).aggregate(
        _first=seen.dn.min(), _delta=seen._delta.max()
    )
    lead = first._xn - first._first
    told = first.group_by(keys).aggregate(
        foretold=first.count(),
        median_lead_days=lead.median(),
        gap=(first._delta * lead).sum() / MONTH_DAYS,
    )
    for row in _rows(told):
        group(row).triggers.setdefault(row["trigger"], {}).update(row)
    return groups


def _ahead(t: ir.Table, truth: ir.Table) -> ir.Table:
    """``t`` (account-days, ``dn``) with ``_ahead``: the days to the account's next expansion
    after the day (null: none)."""
    x = truth.select(_x_account="account_id", _xn="xn")
    j = t.left_join(x, (t.account_id == x._x_account) & (x._xn > t.dn))
    return j.group_by(list(t.columns)).aggregate(_ahead=(j._xn - j.dn).min())


def _row(trigger: str, segment: str | None, group: _Group) -> Score:
    t = group.triggers.get(trigger, {})
    fired, hits, foretold = t.get("fired", 0), t.get("hits", 0), t.get("foretold", 0)
    precision = hits / fired if fired else None
    base = group.base_rate
    return Score(
        trigger=trigger,
        segment=segment,
        fired=fired,
        accounts=t.get("accounts", 0),
        expansions=group.expansions,
        foretold=foretold,
        precision=precision,
        recall=foretold / group.expansions if group.expansions else None,
        lift=precision / base if precision is not None and base else None,
        median_lead_days=t.get("median_lead_days"),
        revenue_in_gap=float(t.get("gap") or 0.0),
    )

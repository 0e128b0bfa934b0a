"""The expansion pipeline: open plays valued by offer size x win rate, against a target.

An open play (open or contacted) is worth its trigger's offer size, the mean MRR its won plays
and won imported conversations added, times its learned win rate (see
:mod:`headroom.plays.conversion`), or, for a play fired on the learned score, times the
account's own readiness when it fired (see :mod:`headroom.signals.readiness`). A trigger
that has won nothing yet is sized by the median expansion of the source, when one is given;
otherwise its plays are counted with no value and the result says so. Values are expansion
MRR, and ARR (x 12) for coverage: weighted ARR over the expansion target.

>>> p = build([_Open("p1", "a1", "t", "ann", "smb")], {"t": 0.5}, {"t": 200.0}, {}, 12000)
>>> p.weighted_arr, p.coverage
(1200.0, 0.1)
>>> ready = _Open("p2", "a2", "t", "ann", "smb", readiness=0.8)
>>> [(v.play_id, v.weighted_mrr) for v in build([_Open("p1", "a1", "t", "ann", "smb"), ready],
...  {"t": 0.5}, {"t": 200.0}, {}, None).plays]
[('p2', 160.0), ('p1', 100.0)]
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from headroom.metrics.expansion import expansion_events
from headroom.playbook.model import Playbook
from headroom.plays.conversion import learned, source_outcomes
from headroom.sources import Source
from headroom.store.database import OPEN


@dataclass(frozen=True)
class _Open:
    play_id: str
    account_id: str
    trigger: str
    owner: str
    segment: str
    readiness: float | None = None  # the learned score it fired on, if it did


@dataclass(frozen=True)
class Valued:
    """An open play with its value."""

    play_id: str
    account_id: str
    trigger: str
    owner: str
    segment: str
    size_mrr: float | None  # None: nothing to size it by
    win_rate: float
    weighted_mrr: float  # size x readiness where it fired on the score, else x win rate
    readiness: float | None = None


@dataclass(frozen=True)
class Pipeline:
    plays: list[Valued]
    weighted_mrr: float
    weighted_arr: float
    target_arr: float | None
    coverage: float | None  # weighted ARR / target
    unsized: int  # open plays of triggers with no size yet
    by_owner: list[dict[str, Any]]
    by_segment: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["plays"] = [asdict(p) for p in self.plays]
        return out


def open_plays(plays: Iterable[Any], segments: Mapping[str, str]) -> list[_Open]:
    """The state store's open and contacted plays, with each account's segment."""
    return [
        _Open(
            p.play_id, p.account_id, p.trigger, p.owner, segments.get(p.account_id, "(unknown)"),
            _readiness(p.evidence),
        )
        for p in plays
        if p.status in OPEN
    ]  # fmt: skip


def _readiness(evidence: Any) -> float | None:
    value = evidence.get("readiness") if isinstance(evidence, Mapping) else None
    return float(value) if isinstance(value, int | float) else None


def build(
    plays: list[_Open],
    win_rates: Mapping[str, float],
    sizes: Mapping[str, float | None],
    fallback: Mapping[str, float],
    target_arr: float | None,
) -> Pipeline:
    """Value each open play and sum by owner and segment.

    ``sizes``: each trigger's learned offer size (MRR); ``fallback``: ``{"median": x}`` for
    triggers without one.
    """
    valued = []
    for p in plays:
        size = sizes.get(p.trigger)
        if size is None:
            size = fallback.get("median")
        rate = win_rates.get(p.trigger, 0.0)
        chance = p.readiness if p.readiness is not None else rate
        valued.append(
            Valued(
                p.play_id, p.account_id, p.trigger, p.owner, p.segment, size, rate,
                (size or 0.0) * chance, p.readiness,
            )
        )  # fmt: skip
    total = sum(v.weighted_mrr for v in valued)
    return Pipeline(
        plays=sorted(valued, key=lambda v: (-v.weighted_mrr, v.play_id)),
        weighted_mrr=total,
        weighted_arr=total * 12,
        target_arr=target_arr,
        coverage=total * 12 / target_arr if target_arr else None,
        unsized=sum(v.size_mrr is None for v in valued),
        by_owner=_by(valued, "owner", target_arr),
        by_segment=_by(valued, "segment", target_arr),
    )


def _by(valued: list[Valued], key: str, target_arr: float | None) -> list[dict[str, Any]]:
    groups: dict[str, list[Valued]] = defaultdict(list)
    for v in valued:
        groups[getattr(v, key)].append(v)
    rows = []
    for name, members in groups.items():
        weighted = sum(v.weighted_mrr for v in members)
        rows.append(
            {
                key: name,
                "plays": len(members),
                "weighted_mrr": weighted,
                "weighted_arr": weighted * 12,
                "share_of_target": weighted * 12 / target_arr if target_arr else None,
            }
        )
    return sorted(rows, key=lambda r: (-r["weighted_arr"], r[key]))


def values(playbook: Playbook, plays: list[Any], source: Source | None) -> dict[str, float]:
    """Each open play's expected value (MRR) by its id, as :func:`pipeline` values it: what
    the queue is ordered by when asked to rank by value."""
    return {v.play_id: v.weighted_mrr for v in pipeline(playbook, plays, source, None).plays}


def pipeline(
    playbook: Playbook, plays: list[Any], source: Source | None, target_arr: float | None
) -> Pipeline:
    """The pipeline of the state store's open plays (``source``: segments, imported outcomes
    and the median expansion, for triggers that have won nothing yet)."""
    rates = learned(playbook, plays, source_outcomes(source))
    segments: dict[str, str] = {}
    fallback: dict[str, float] = {}
    if source is not None:
        ids = sorted({p.account_id for p in plays if p.status in OPEN})
        a = source.table("accounts")
        a = a.filter(a.account_id.isin(ids)).select("account_id", "segment")
        segments = {r["account_id"]: r["segment"] or "(none)" for r in a.to_pyarrow().to_pylist()}
        events = expansion_events(source, dt.date.today())
        median = events.delta_mrr.cast("float64").median().to_pyarrow().as_py()
        if median is not None:
            fallback["median"] = float(median)
    return build(
        open_plays(plays, segments),
        {c.trigger: c.win_rate for c in rates},
        {c.trigger: c.mean_expansion_mrr for c in rates},
        fallback,
        target_arr,
    )

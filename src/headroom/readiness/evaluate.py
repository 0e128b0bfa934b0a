"""Judge the readiness score on later months it never saw, against the playbook's hand rules.

A model is trained with data to ``through`` only (in memory; the workspace's is left alone),
then scored on the paying account-days after it, every 7th day up to ``horizon`` days before the
data ends (so that every outcome is known): AUC, average precision, Brier score, a reliability
table by decile and the calibration error.

Then the comparison a RevOps lead asks for: the playbook is replayed over the same later days
(:mod:`headroom.backtest`), and so is a playbook with its stage and one trigger,
``readiness > t``, with ``t`` set so that it fires about as often as each hand rule, and as all
of them together; the precision and lift of each are side by side. Both replays judge a firing
by the expansions in the horizon after it, and neither read anything after its own day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from headroom.backtest import ALL, Replayer
from headroom.backtest.accuracy import score
from headroom.backtest.sweep import Sweep, with_threshold
from headroom.errors import UsageError
from headroom.playbook.expressions import parse
from headroom.playbook.model import Playbook, Trigger
from headroom.readiness import measures
from headroom.readiness.train import examples, train
from headroom.signals.readiness import Card, using
from headroom.signals.registry import types
from headroom.sources import Source

#: The readiness trigger's id in the comparison.
TRIGGER = "readiness"
#: How close to a hand rule's firings the readiness trigger's are brought (a share of them),
#: and in at most how many replays.
CLOSE, TRIES = 0.02, 14


@dataclass(frozen=True)
class Match:
    """A hand rule (or all of them: ``(all)``) against the readiness trigger firing about as
    often."""

    trigger: str
    fired: int
    precision: float | None
    lift: float | None
    readiness_threshold: float | None
    readiness_fired: int
    readiness_precision: float | None
    readiness_lift: float | None

    @property
    def ratio(self) -> float | None:
        """The readiness trigger's precision over the rule's."""
        if not self.precision or self.readiness_precision is None:
            return None
        return self.readiness_precision / self.precision


@dataclass(frozen=True)
class Evaluation:
    """A model trained to ``card.through``, judged on the days after."""

    card: Card
    test_days: tuple[dt.date, dt.date]
    rows: int
    positives: int
    auc: float | None
    average_precision: float | None
    brier: float | None
    calibration_error: float | None
    reliability: list[measures.Bin]
    replayed: tuple[dt.date, dt.date] | None = None
    matches: list[Match] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "through": self.card.through.isoformat(),
            "horizon_days": self.card.horizon_days,
            "train_days": [d.isoformat() for d in self.card.train_days],
            "calibration_days": [d.isoformat() for d in self.card.calibration_days],
            "test_days": [d.isoformat() for d in self.test_days],
            "rows": self.rows,
            "positives": self.positives,
            "base_rate": self.positives / self.rows if self.rows else None,
            "auc": self.auc,
            "average_precision": self.average_precision,
            "brier": self.brier,
            "calibration_error": self.calibration_error,
            "reliability": [dataclasses.asdict(b) for b in self.reliability],
            "replayed": [d.isoformat() for d in self.replayed] if self.replayed else None,
            "rules": [{**dataclasses.asdict(m), "ratio": m.ratio} for m in self.matches],
        }


def activity_end(source: Source, end: dt.date) -> dt.date:
    """The last day the source saw its accounts act (usage, events), if before ``end``: a
    billing export with running subscriptions reads as running to the day it was loaded, but
    an expansion after the activity stops could not have been seen, and the later days would
    be judged as if nobody expanded."""
    found: list[dt.date] = []
    for name, column in (("usage_daily", "date"), ("events", "timestamp")):
        if source.has(name):
            last = source.table(name)[column].max().to_pyarrow().as_py()
            if last is not None:
                found.append(last.date() if isinstance(last, dt.datetime) else last)
    return min(end, max(found)) if found else end


def evaluate(
    source: Source,
    through: dt.date,
    end: dt.date,
    horizon: int = 90,
    playbook: Playbook | None = None,
) -> Evaluation:
    """Train to ``through``, judge on the days after it to ``end`` (where the data ends) less
    the horizon; with ``playbook``, against its hand rules."""
    last = end - dt.timedelta(days=horizon)
    if last <= through:
        raise UsageError(
            f"there are no days to judge on: {through} + {horizon} days of horizon reaches "
            f"{through + dt.timedelta(days=horizon)}, past {end}",
            fix=f"pass an earlier --through, before {end - dt.timedelta(days=horizon + 30)}",
        )
    model = train(source, through, horizon)  # in memory: not kept
    first = through + dt.timedelta(days=1)
    test = examples(source, model.card.features, first, last, horizon)
    p = model.probability(test.x)
    y = test.y
    result = Evaluation(
        card=model.card,
        test_days=(first, last),
        rows=len(y),
        positives=int(y.sum()),
        auc=measures.auc(p, y),
        average_precision=measures.average_precision(p, y),
        brier=measures.brier(p, y),
        calibration_error=measures.calibration_error(p, y),
        reliability=measures.reliability(p, y),
    )
    if playbook is None:
        return result
    with using(model):
        found = matches(source, playbook, first, last, horizon)
    return dataclasses.replace(result, replayed=(first, last), matches=found)


def readiness_playbook(book: Playbook, threshold: float = 0.5, signal: str = TRIGGER) -> Playbook:
    """``book``'s stage with one trigger, ``<signal> > threshold`` (by default ``readiness``),
    firing on the first day (holding it 7 or 14 days first was tried on TeamFlow: no more
    precise at the hand rules' volume)."""
    trigger = Trigger(id=signal, when=f"{signal} > {threshold}", offer="expansion")
    model = book.model.model_copy(update={"triggers": [trigger], "routing": []})
    conditions = {loc: node for loc, node in book.conditions.items() if loc[0] == "stage"}
    conditions[("triggers", 0, "when")] = parse(trigger.when, types())
    return Playbook(book.path, model, conditions, f"{book.version}+{signal}")


def matches(
    source: Source,
    book: Playbook,
    first: dt.date,
    last: dt.date,
    horizon: int,
    signal: str = TRIGGER,
) -> list[Match]:
    """``book`` replayed from ``first`` to ``last``, and ``<signal> > t`` fired as often as
    each of its rules and all of them together (``signal``: ``readiness``, or any number
    signal of the catalogue in its place)."""
    with Replayer(source, book, first, last, horizon) as replayer:
        hand = score(source, replayer.replay(), detail=False)
    rules = [s for s in hand.triggers if s.segment is None]
    mine = readiness_playbook(book, signal=signal)
    out: list[Match] = []
    with Replayer(source, mine, first, last, horizon) as replayer:
        tried: dict[float, tuple[int, float | None, float | None]] = {}

        def at(t: float) -> tuple[int, float | None, float | None]:
            if t not in tried:
                spec = Sweep(signal, 1, (t,))
                s = score(source, replayer.replay(with_threshold(mine, spec, t)), detail=False)
                row = next(r for r in s.triggers if r.trigger == signal)
                tried[t] = (row.fired, row.precision, row.lift)
            return tried[t]

        for rule in rules:
            t = _threshold_for(rule.fired, at)
            fired, precision, lift = at(t) if t is not None else (0, None, None)
            matched = (t, fired, precision, lift)
            out.append(Match(rule.trigger, rule.fired, rule.precision, rule.lift, *matched))
    # all together last, as the backtest lists them
    out.sort(key=lambda m: m.trigger == ALL)
    return out


def _threshold_for(wanted: int, at: Callable[[float], tuple[int, Any, Any]]) -> float | None:
    """The readiness threshold whose firings come nearest ``wanted`` (firings fall as the
    threshold rises): bisection on [0, 1]."""
    if wanted <= 0:
        return None
    lo, hi = 0.0, 1.0
    best: tuple[int, float] | None = None
    for _ in range(TRIES):
        mid = round((lo + hi) / 2, 6)
        fired = at(mid)[0]
        if best is None or abs(fired - wanted) < best[0]:
            best = (abs(fired - wanted), mid)
        if abs(fired - wanted) <= max(1, CLOSE * wanted):
            break
        lo, hi = (mid, hi) if fired > wanted else (lo, mid)
    return best[1] if best else None

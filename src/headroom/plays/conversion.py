"""Learned conversion: how often each trigger's plays became conversations and expansions.

The counts come from the plays recorded in the state store (their status and outcome) and from
the source's outcomes table (conversations imported from a CRM that name the trigger they
answered; a row that repeats a recorded play's outcome is counted once).

The win rate, of the plays that came to an end the share won, is Bayesian. The playbook's
benchmark range for the trigger (``conversion: 60-80%``) is a Beta prior whose mean is the middle
of the range and whose weight, in plays, makes the range its mean plus or minus two standard
deviations; each play won or lost updates it. Until outcomes accumulate the prior dominates, so
the counts are always shown beside the rate. A trigger without a range gets a flat prior worth two
plays (half won).

>>> p = Prior(0.6, 0.8)
>>> round(p.mean, 2), round(p.weight)
(0.7, 83)
>>> round(p.posterior(won=0, closed=0), 3), round(p.posterior(won=10, closed=10), 3)
(0.7, 0.732)
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from headroom.playbook.model import Playbook, conversion_range
from headroom.sources import Source
from headroom.store.database import CLOSED, OUTCOMES, Store
from headroom.store.models import Play

#: A play that reached a conversation: contacted, or closed.
OPPORTUNITY = OUTCOMES


@dataclass(frozen=True)
class Prior:
    """A Beta prior on a rate, from a benchmark range read as mean ± 2 standard deviations."""

    low: float
    high: float

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def weight(self) -> float:
        """How many plays the prior counts as (a + b of the Beta)."""
        sd = (self.high - self.low) / 4
        return self.mean * (1 - self.mean) / sd**2 - 1

    def posterior(self, won: int, closed: int) -> float:
        """The posterior mean after ``won`` of ``closed`` plays were won."""
        return (self.mean * self.weight + won) / (self.weight + closed)


def _flat_posterior(won: int, closed: int) -> float:
    """No benchmark: Beta(1, 1), two plays' worth, half of them won."""
    return (1 + won) / (2 + closed)


@dataclass(frozen=True)
class Conversion:
    """One trigger's conversion, learned from outcomes on top of its benchmark."""

    trigger: str
    plays: int  # recorded plays
    opportunities: int  # of those, contacted or closed
    won: int  # recorded plays and imported conversations won
    lost: int  # lost or declined
    signal_to_opportunity: float | None
    opportunity_to_close: float | None  # won / (won + lost), observed alone
    prior: str | None  # the playbook's benchmark range
    prior_weight: float  # plays the prior counts as
    win_rate: float  # the posterior: the prior updated with won and lost
    median_days_to_expansion: float | None  # from firing to a won outcome
    expansion_mrr: float  # MRR won
    mean_expansion_mrr: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def learned(
    playbook: Playbook,
    plays: Iterable[Any],
    outcomes: Iterable[Mapping[str, Any]] = (),
) -> list[Conversion]:
    """Each trigger's conversion, in playbook order.

    ``plays`` are the state store's plays (``account_id, trigger, status, fired_on, outcome_on,
    amount_mrr``); ``outcomes`` the source's outcome rows (``account_id, date, outcome, trigger,
    amount_mrr``).
    """
    ids = [t.id for t in playbook.model.triggers]
    counts: dict[str, dict[str, Any]] = {
        t: {"plays": 0, "opp": 0, "won": 0, "lost": 0, "days": [], "mrr": 0.0} for t in ids
    }
    recorded: set[tuple[str, str, str, dt.date | None]] = set()
    for play in plays:
        c = counts.get(play.trigger)
        if c is None or play.status == "held_out":
            continue  # a trigger no longer in the playbook, or a control (never worked)
        c["plays"] += 1
        if play.status in OPPORTUNITY:
            c["opp"] += 1
        if play.status in CLOSED:
            recorded.add((play.account_id, play.trigger, play.status, play.outcome_on))
        if play.status == "won":
            c["won"] += 1
            c["mrr"] += float(play.amount_mrr or 0)
            if play.outcome_on is not None:
                c["days"].append((play.outcome_on - play.fired_on).days)
        elif play.status in ("lost", "declined"):
            c["lost"] += 1
    for row in outcomes:
        c = counts.get(row.get("trigger") or "")
        outcome = row.get("outcome")
        if c is None or outcome not in CLOSED:
            continue
        if (row["account_id"], row["trigger"], outcome, row.get("date")) in recorded:
            continue
        if outcome == "won":
            c["won"] += 1
            c["mrr"] += float(row.get("amount_mrr") or 0)
        else:
            c["lost"] += 1
    out = []
    for trigger in playbook.model.triggers:
        c = counts[trigger.id]
        closed = c["won"] + c["lost"]
        prior = Prior(*conversion_range(trigger.conversion)) if trigger.conversion else None
        out.append(
            Conversion(
                trigger=trigger.id,
                plays=c["plays"],
                opportunities=c["opp"],
                won=c["won"],
                lost=c["lost"],
                signal_to_opportunity=c["opp"] / c["plays"] if c["plays"] else None,
                opportunity_to_close=c["won"] / closed if closed else None,
                prior=trigger.conversion.strip() if trigger.conversion else None,
                prior_weight=prior.weight if prior else 2.0,
                win_rate=(
                    prior.posterior(c["won"], closed)
                    if prior
                    else _flat_posterior(c["won"], closed)
                ),
                median_days_to_expansion=statistics.median(c["days"]) if c["days"] else None,
                expansion_mrr=c["mrr"],
                mean_expansion_mrr=c["mrr"] / c["won"] if c["won"] else None,
            )
        )
    return out


def source_outcomes(source: Source | None) -> list[dict[str, Any]]:
    """The source's imported conversations that name a trigger and ended (few rows)."""
    if source is None or not source.has("outcomes"):
        return []
    o = source.table("outcomes")
    closed = o.filter(o.trigger.notnull() & o.outcome.isin(list(CLOSED)))
    return list(closed.to_pyarrow().to_pylist())


@dataclass(frozen=True)
class Funnel:
    """One trigger's recorded plays, from firing to their outcome (the state store alone: the
    source's imported conversations are not plays)."""

    trigger: str
    fired: int  # plays recorded
    contacted: int  # of those, that reached a conversation: contacted, won, lost or declined
    won: int
    lost: int
    declined: int
    won_mrr: float  # the MRR the won plays added

    @property
    def closed(self) -> int:
        return self.won + self.lost + self.declined

    @property
    def open(self) -> int:
        """Plays nobody has recorded an outcome for yet."""
        return self.fired - self.contacted

    @property
    def win_rate(self) -> float | None:
        """Of the closed plays, the share won (None before any closed)."""
        return self.won / self.closed if self.closed else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"open": self.open, "closed": self.closed, "win_rate": self.win_rate}


def funnel(store: Store, triggers: Sequence[str] = ()) -> list[Funnel]:
    """Each trigger's funnel, counted by the database in one grouped query (however many plays
    there are): ``triggers`` first, in their order and with or without plays, then any other
    trigger that has plays, by name.

    Its counts are :func:`learned`'s without imported outcomes: ``fired`` its plays,
    ``contacted`` its opportunities, ``lost + declined`` its lost, ``win_rate`` its
    opportunity_to_close and ``won_mrr`` its expansion_mrr.
    """
    query = select(Play.trigger, Play.status, func.count(), func.sum(Play.amount_mrr)).group_by(
        Play.trigger, Play.status
    )
    with store.session() as db:
        rows = db.execute(query).all()
    by_status: dict[str, dict[str, int]] = {t: {} for t in triggers}
    mrr: dict[str, float] = {}
    for trigger, status, n, amount in rows:
        by_status.setdefault(trigger, {})[status] = n
        if status == "won":
            mrr[trigger] = float(amount or 0)
    order = [*triggers, *sorted(t for t in by_status if t not in triggers)]
    return [
        Funnel(
            trigger=t,
            fired=sum(n for k, n in by_status[t].items() if k != "held_out"),  # controls apart
            contacted=sum(by_status[t].get(k, 0) for k in OPPORTUNITY),
            won=by_status[t].get("won", 0),
            lost=by_status[t].get("lost", 0),
            declined=by_status[t].get("declined", 0),
            won_mrr=mrr.get(t, 0.0),
        )
        for t in order
    ]

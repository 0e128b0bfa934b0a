"""A holdout experiment with a known answer: a playbook's holdouts run over a generated history,
its plays raising the chance of expanding by a planted effect.

The playbook is replayed over the history as ``headroom run`` would have fired it each day (see
:mod:`headroom.backtest.replay`). Each account a trigger first fires for is drawn into an arm
exactly as a run draws it (:mod:`headroom.triggers.holdout`) and recorded in the state store as
the run would have recorded it, where ``headroom experiments`` reads it. Then the plays work:

* each drawn account gets a coin that comes up with probability ``effect`` (a hash of the seed,
  trigger and account: the same every time), and a day within the horizon after the play;
* a treated account whose coin came up and that did not expand within the horizon anyway gets
  an add-on (``ADDON_MRR`` a month, from that day) written into the source's subscriptions:
  an expansion the play caused. A held-out account's coin is only its potential outcome.

The truth is what the draw would have changed for the accounts drawn (the sample's average
effect): per trigger, the share of its drawn accounts that expand within the horizon if
treated and not if held out. It is written to ``truth/experiment.json``. (The replay fired the
plays on the history before the add-ons: an add-on does not stop a later play of another
trigger, as a real expansion would.)
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from headroom.backtest.replay import number_day, replay
from headroom.errors import UsageError
from headroom.metrics.expansion import expansion_events
from headroom.playbook.model import Playbook
from headroom.sources import Source, load
from headroom.store.database import Store
from headroom.triggers.decisions import PlayDraft, play_id
from headroom.triggers.holdout import draw, drawn

#: The add-on a play that worked sells, a month.
ADDON_MRR = 100.0
#: Days of history before the first replayed day (what 90-day signals need).
WARM_UP = 90


@dataclass(frozen=True)
class TriggerTruth:
    trigger: str
    holdout: float
    drawn: int
    treated: int
    held_out: int
    #: the sample's average effect on the expansion rate within the horizon, and on ARR
    uplift: float
    incremental_arr: float


@dataclass(frozen=True)
class Simulated:
    experiment: str
    effect: float
    horizon_days: int
    start: dt.date
    end: dt.date
    triggers: list[TriggerTruth]
    #: every trigger's drawn accounts together, as ``headroom experiments``' overall row
    overall_uplift: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self) | {"start": self.start.isoformat(), "end": self.end.isoformat()}


def simulate_holdouts(
    folder: Path, book: Playbook, store: Store, effect: float, seed: int, horizon: int = 90
) -> Simulated:
    """Replay ``book`` over the source in ``folder`` with its holdouts, record the drawn plays
    in ``store``, plant the plays' ``effect`` in the source's subscriptions, and write the truth
    to ``folder/truth/experiment.json``."""
    if not 0 <= effect <= 1:
        raise UsageError(
            f"--treatment-effect must be a share from 0 to 1, got {effect}",
            fix="pass the chance a play adds an expansion that would not have come, e.g. 0.1",
        )
    shares = {t.id: book.model.holdout_of(t) for t in book.model.triggers}
    if not any(shares.values()):
        raise UsageError(
            f"the playbook {book.path.name} holds nobody out",
            fix="give it a holdout (holdout: 10% at the top, or on a trigger) to simulate one",
        )
    subs_file = folder / "subscriptions.csv"
    if not subs_file.exists():
        raise UsageError(
            f"{folder} has no subscriptions.csv to plant the plays' expansions in",
            fix="simulate on a CSV source (headroom generate teamflow without --parquet)",
        )
    experiment = book.model.experiment_name
    source = load(folder)
    try:
        first_day, last_day = _span(source)
        start = first_day + dt.timedelta(days=WARM_UP)
        end = last_day - dt.timedelta(days=horizon)
        if start > end:
            raise UsageError(
                f"the history from {first_day} to {last_day} is too short to replay plays and "
                f"see {horizon} days after them",
                fix=f"generate at least {WARM_UP + horizon + 30} days of history",
            )
        with replay(source, book, start, end, horizon) as r:
            f = r.firings
            firsts = f.group_by(["trigger", "account_id"]).aggregate(dn=f.dn.min())
            rows = firsts.order_by(["trigger", "account_id"]).to_pyarrow().to_pylist()
        exposures = [(r["trigger"], r["account_id"], number_day(r["dn"])) for r in rows]
        exposures = [e for e in exposures if shares.get(e[0])]
        events = expansion_events(source, last_day).select("account_id", "date").to_pyarrow()
    finally:
        source.close()
    expanded: dict[str, list[dt.date]] = defaultdict(list)
    for a, d in zip(events["account_id"].to_pylist(), events["date"].to_pylist(), strict=True):
        expanded[a].append(d)
    subs = _subscriptions(subs_file)

    def within(account: str, day: dt.date, dates: list[dt.date]) -> bool:
        return any(day < d <= day + dt.timedelta(days=horizon) for d in dates)

    # the plays' own expansions: drawn, treated, their coin up, no expansion anyway, paying then
    planned: dict[tuple[str, str], dt.date] = {}
    arms: dict[tuple[str, str], str] = {}
    for trigger, account, day in exposures:
        arms[(trigger, account)] = drawn(experiment, trigger, account, shares[trigger])
        coin = draw(f"{seed}:effect", trigger, account) < effect
        when = day + dt.timedelta(days=1 + int(draw(f"{seed}:when", trigger, account) * horizon))
        when = min(when, day + dt.timedelta(days=horizon))
        if coin and not within(account, day, expanded[account]) and _paying(subs, account, when):
            planned[(trigger, account)] = when
    added: dict[str, list[dt.date]] = defaultdict(list)
    for (trigger, account), when in planned.items():
        if arms[(trigger, account)] == "treated":
            added[account].append(when)
    truths = []
    caused_all = drawn_all = 0
    for trigger in [t.id for t in book.model.triggers if shares[t.id]]:
        mine = [(a, d) for t, a, d in exposures if t == trigger]
        # the draw's effect on each drawn account: its own add-on, where nothing else (an
        # expansion anyway, another trigger's add-on) falls in its horizon
        caused = sum(
            1
            for a, d in mine
            if (trigger, a) in planned
            and not within(a, d, [w for w in added[a] if w != planned[(trigger, a)]])
        )
        caused_all += caused
        drawn_all += len(mine)
        treated = sum(arms[(trigger, a)] == "treated" for a, _ in mine)
        uplift = caused / len(mine) if mine else 0.0
        truths.append(
            TriggerTruth(
                trigger, shares[trigger], len(mine), treated, len(mine) - treated, uplift,
                12 * ADDON_MRR * uplift * treated,
            )
        )  # fmt: skip
    _add_subscriptions(subs_file, subs, added)
    now = dt.datetime.now(dt.UTC)
    key = store.play_key()
    by_id = {t.id: t for t in book.model.triggers}
    drafts = [
        PlayDraft(
            play_id=play_id(account, trigger, day, key),
            account_id=account,
            trigger=trigger,
            fired_on=day,
            due_at=f"{day.isoformat()}T09:00:00+00:00",
            owner="(simulated)",
            offer=by_id[trigger].offer,
            priority=by_id[trigger].priority,
            evidence={},
            playbook_version=book.version,
            experiment=experiment,
            arm=arms[(trigger, account)],
        )
        for trigger, account, day in exposures
    ]
    store.record_plays(drafts, [], now)
    overall = caused_all / drawn_all if drawn_all else 0.0
    result = Simulated(experiment, effect, horizon, start, end, truths, overall)
    (folder / "truth").mkdir(exist_ok=True)
    (folder / "truth" / "experiment.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def _span(source: Source) -> tuple[dt.date, dt.date]:
    u = source.table("usage_daily")
    row = u.aggregate(a=u.date.min(), b=u.date.max()).to_pyarrow().to_pylist()[0]
    if row["a"] is None:
        raise UsageError("the source has no usage to replay a playbook on", fix="generate one")
    return row["a"], row["b"]


def _subscriptions(path: Path) -> dict[str, list[dict[str, str]]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        out[r["account_id"]].append(r)
    return out


def _in_force(rows: list[dict[str, str]], day: dt.date) -> list[dict[str, str]]:
    return [
        r
        for r in rows
        if dt.date.fromisoformat(r["start_date"]) <= day
        and (not r["end_date"] or day < dt.date.fromisoformat(r["end_date"]))
    ]


def _paying(subs: dict[str, list[dict[str, str]]], account: str, day: dt.date) -> bool:
    """Whether the account pays on the day before ``day`` and on it (an add-on then is an
    expansion, not a return)."""
    return bool(_in_force(subs[account], day - dt.timedelta(days=1))) and bool(
        _in_force(subs[account], day)
    )


def _add_subscriptions(
    path: Path, subs: dict[str, list[dict[str, str]]], added: dict[str, list[dt.date]]
) -> None:
    """Append an add-on row per planted expansion, on the plan in force that day, to the end
    of the subscription it joins."""
    with path.open("a", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        for account in sorted(added):
            for i, day in enumerate(sorted(added[account])):
                (base, *_) = _in_force(subs[account], day)
                w.writerow(
                    [f"sim_{account}_{i}", account, day.isoformat(), base["end_date"],
                     f"{ADDON_MRR:.2f}", base["plan"], 1, base.get("renews_on", "")]
                )  # fmt: skip

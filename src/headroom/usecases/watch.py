"""How headroom is doing, as an operator watches it: runs by how they ended and how long they
took, plays fired and decisions skipped, deliveries by channel and state, events kept, and the
queue with its overdue plays, and the scheduled daily cycle.

Everything is counted in the state store when asked, so the numbers agree with the store
whichever process asks, and survive a restart: the web app exposes them on ``/metrics``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select

from headroom.store.database import OPEN, Store, aware
from headroom.store.models import Cycle, Delivery, IngestedEvent, Play, Run


@dataclass(frozen=True)
class Counts:
    """The store's counts at one moment."""

    runs: dict[tuple[str, str], int]  # (kind, status) -> runs
    run_seconds: dict[str, tuple[float, int]]  # kind -> (seconds, finished runs) in all
    plays: dict[str, int]  # trigger -> plays fired
    skipped: dict[tuple[str, str], int]  # (trigger, reason) -> decisions skipped by runs
    deliveries: dict[tuple[str, str], int]  # (channel, status) -> deliveries
    retries: dict[str, int]  # channel -> attempts after a delivery's first
    events: int  # ingested events kept
    open_plays: int
    overdue_plays: int
    cycles: dict[str, int]  # status -> days whose scheduled cycle ended so (or is running)
    last_cycle_day: dt.date | None  # the latest day whose cycle finished


def counts(store: Store, now: dt.datetime) -> Counts:
    """Count it all in ``store`` as of ``now`` (overdue: open past its deadline)."""
    with store.session() as s:
        runs = {
            (str(k), str(st)): int(n)
            for k, st, n in s.execute(select(Run.kind, Run.status, func.count()).group_by(
                Run.kind, Run.status))
        }  # fmt: skip
        seconds: dict[str, tuple[float, int]] = {}
        finished = select(Run.kind, Run.started_at, Run.finished_at).where(
            Run.status == "finished", Run.finished_at.is_not(None)
        )
        for kind, started, ended in s.execute(finished):
            if ended is None:  # pragma: no cover - filtered above; for the type checker
                continue
            total, n = seconds.get(kind, (0.0, 0))
            took = (aware(ended) - aware(started)).total_seconds()
            seconds[kind] = (total + took, n + 1)
        plays = {
            str(t): int(n)
            for t, n in s.execute(select(Play.trigger, func.count()).group_by(Play.trigger))
        }
        # from each run's summary, not the decision log: a scrape every few seconds must not
        # count millions of decisions (a year of daily runs is a few hundred summaries)
        skipped: dict[tuple[str, str], int] = {}
        summaries = select(Run.result).where(Run.kind == "run", Run.status == "finished")
        for (result,) in s.execute(summaries):
            for row in (result or {}).get("triggers", []):
                for reason, n in row.get("skipped", {}).items():
                    key = (str(row["trigger"]), str(reason))
                    skipped[key] = skipped.get(key, 0) + int(n)
        deliveries = {
            (str(c), str(st)): int(n)
            for c, st, n in s.execute(
                select(Delivery.channel, Delivery.status, func.count()).group_by(
                    Delivery.channel, Delivery.status
                )
            )
        }
        again = func.sum(case((Delivery.attempts > 1, Delivery.attempts - 1), else_=0))
        retries = {
            str(c): int(n or 0)
            for c, n in s.execute(select(Delivery.channel, again).group_by(Delivery.channel))
        }
        events = int(s.scalar(select(func.count()).select_from(IngestedEvent)) or 0)
        open_ = select(func.count()).select_from(Play).where(Play.status.in_(OPEN))
        open_plays = int(s.scalar(open_) or 0)
        overdue = int(s.scalar(open_.where(Play.deadline_at < now)) or 0)
        cycles = {
            str(st): int(n)
            for st, n in s.execute(select(Cycle.status, func.count()).group_by(Cycle.status))
        }
        last: dt.date | None = s.scalar(
            select(func.max(Cycle.day)).where(Cycle.status == "finished")
        )
    return Counts(
        runs, seconds, plays, skipped, deliveries, retries, events, open_plays, overdue, cycles,
        last,
    )  # fmt: skip

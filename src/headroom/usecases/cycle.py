"""One day's cycle, whole: refresh the source, run each playbook as of the day, deliver (with
escalation), and record each step in the store's row for the day.

A cycle is safe to run again for its day: a playbook's run of a day is recorded once (a second
run reports what the first recorded), and the outbox sends each delivery once under its lease.
So a cycle killed half-way is resumed by running it again, with no play or message twice.

The scheduler (:mod:`headroom.usecases.schedule`) decides which days are due and calls
:func:`run_cycle` for each, in order.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headroom.delivery.config import delivery_beside
from headroom.delivery.worker import Tally, workers_for
from headroom.errors import HeadroomError
from headroom.logs import logged
from headroom.sources import Source, load
from headroom.store.database import Store, jsonable
from headroom.store.models import Cycle
from headroom.usecases import Loader
from headroom.usecases.run import run_playbook

log = logging.getLogger("headroom.cycle")


@dataclass(frozen=True)
class CyclePlan:
    """What a cycle does each day: the source, and the playbooks run on it in this order."""

    source: Path
    playbooks: Sequence[Path]
    mapping: Path | None = None
    engine: str = "duckdb"


@dataclass
class CycleResult:
    """How a day's cycle ended: ``finished``; ``waiting`` (the source's data does not reach
    the day yet); or ``failed`` with the error. ``steps`` says what each step did."""

    day: dt.date
    status: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class WaitingForDataError(HeadroomError):
    """The source's data ends before the day a cycle runs as of."""


def run_cycle(
    store: Store,
    plan: CyclePlan,
    day: dt.date,
    *,
    holder: str = "cli",
    load_source: Loader = load,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> CycleResult:
    """Run ``plan`` as of ``day`` and record it."""
    result = CycleResult(day, "running")
    _start(store, day, holder, clock())
    with logged(cycle=day.isoformat()):
        log.info("cycle as of %s started", day)
        try:
            result.steps.append(_refresh(plan, day, load_source))
            for playbook in plan.playbooks:
                result.steps.append(_run(store, plan, playbook, day, load_source))
            result.steps.append(_deliver(store, plan))
            result.status = "finished"
            log.info("cycle as of %s finished: %s", day, _said(result.steps))
        except WaitingForDataError as waiting:
            result.status, result.error = "waiting", str(waiting)
            log.info("cycle as of %s waits: %s", day, waiting)
        except Exception as exc:  # recorded, then the scheduler tries again later
            result.status = "failed"
            result.error = str(exc) if isinstance(exc, HeadroomError) else repr(exc)
            log.exception("cycle as of %s failed", day)
        _finish(store, result, clock())
    return result


def _said(steps: list[dict[str, Any]]) -> str:
    """The steps in a few words: ``2 plays from playbook.yaml, 6 sent``."""
    words = [f"{s['plays']} plays from {s['playbook']}" for s in steps if s["step"] == "run"]
    words += [f"{s['sent']} sent" for s in steps if s["step"] == "deliver"]
    return ", ".join(words)


def _refresh(plan: CyclePlan, day: dt.date, load_source: Loader) -> dict[str, Any]:
    """Load the source afresh (only what changed, where the loader can), and refuse a day past
    its last day of activity: a cycle on missing data would see every account go quiet."""
    src = load_source(plan.source, plan.mapping)
    try:
        last, what = _last_day(src)
        if last is not None and last < day:
            raise WaitingForDataError(
                f"the source's last day of {what} is {last}; the cycle as of {day} runs once "
                "its data reaches that day"
            )
        rows = {name: info.rows for name, info in src.report.tables.items()}
        return {
            "step": "refresh", "source": src.name, "data_through": _iso(last), "rows": rows
        }  # fmt: skip
    finally:
        src.close()


def _last_day(src: Source) -> tuple[dt.date | None, str]:
    """The source's last day of usage or events (what a cycle reads each day); else where its
    data ends (a source of subscriptions alone)."""
    usage = src.table("usage_daily").date.max().to_pyarrow().as_py()
    events = src.table("events").timestamp.max().to_pyarrow().as_py()
    days = [d for d in (usage, events.date() if events is not None else None) if d is not None]
    if days:
        return max(days), "usage and events"
    through = src.report.data_through
    return (dt.date.fromisoformat(through) if through else None), "data"


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _run(
    store: Store, plan: CyclePlan, playbook: Path, day: dt.date, load_source: Loader
) -> dict[str, Any]:
    done = run_playbook(
        store, plan.source, playbook, day, mapping=plan.mapping, engine=plan.engine,
        load_source=load_source,
    )  # fmt: skip
    return {
        "step": "run",
        "playbook": playbook.name,
        "plays": len(done.plays),
        "decisions": len(done.decisions),
        "recorded_earlier": done.recorded_earlier,
    }


def _deliver(store: Store, plan: CyclePlan) -> dict[str, Any]:
    """Send what is due now, escalating overdue plays first, for each playbook's channels."""
    tally = Tally()
    configs = [c for c in map(delivery_beside, plan.playbooks) if c is not None]
    for worker in workers_for(store, configs):
        try:
            tally.add(worker.run(until_idle=True))
        finally:
            worker.close()
    return {"step": "deliver", "sent": tally.sent, "retrying": tally.retrying, "dead": tally.dead}


def _start(store: Store, day: dt.date, holder: str, now: dt.datetime) -> None:
    with store.session() as s:
        row = s.get(Cycle, day)
        if row is None:
            s.add(Cycle(day=day, status="running", started_at=now, holder=holder, attempts=1,
                        steps=[]))  # fmt: skip
        else:  # again: after a failure, a wait for data, or a process killed mid-way
            row.status, row.started_at, row.holder = "running", now, holder
            row.attempts += 1
            row.finished_at, row.error = None, None


def _finish(store: Store, result: CycleResult, now: dt.datetime) -> None:
    with store.session() as s:
        row = s.get(Cycle, result.day)
        assert row is not None
        row.status, row.finished_at = result.status, now
        row.steps, row.error = jsonable(result.steps), result.error

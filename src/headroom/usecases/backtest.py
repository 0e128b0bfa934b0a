"""Backtest a playbook and keep the result: the use case behind ``headroom backtest`` and the
web app's backtest page, which keep the same result (the scores, by segment and by horizon,
and a threshold sweep with its rows when one was asked).

The command line computes in the foreground (:func:`run_backtest`); the web app starts a
backtest in a thread of its own, one at a time per process (:func:`launch_backtest`).

>>> with Store() as store:  # doctest: +SKIP
...     done = run_backtest(store, Path("data"), Path("playbook.yaml"), BacktestAsk(d1, d2))
>>> done.backtest.triggers[-1].precision  # doctest: +SKIP
0.31
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headroom.backtest import Backtest, backtest
from headroom.backtest.sweep import Sweep, parse_sweep, sweep
from headroom.errors import ForbiddenError, HeadroomError, UsageError
from headroom.playbook.model import Playbook, load_playbook
from headroom.plays.runs import (
    MAX_HORIZON_DAYS,
    RunInfo,
    alive,
    fail_run,
    failure,
    finish_run,
    recording,
    start_run,
)
from headroom.plays.versions import record_version
from headroom.signals.readiness import current as current_model
from headroom.signals.registry import types
from headroom.sources import Source, load
from headroom.sources.engines import on_engine
from headroom.store.database import Store
from headroom.triggers.evidence import READINESS
from headroom.usecases import Loader
from headroom.users import Person

log = logging.getLogger("headroom.runs")


@dataclass(frozen=True)
class BacktestAsk:
    """What a backtest is asked: the days replayed, the horizon, and a sweep as
    ``--sweep`` takes it (``TRIGGER.threshold=START:STOP:STEP``)."""

    start: dt.date
    end: dt.date
    horizon_days: int = 90
    sweep: str | None = None

    def check(self, book: Playbook) -> None:
        """Refuse what the backtest would refuse, before anything is started."""
        if self.end < self.start:
            raise UsageError(
                f"end {self.end} is before start {self.start}",
                fix="give an end on or after the start",
            )
        if not 1 <= self.horizon_days <= MAX_HORIZON_DAYS:
            raise UsageError(
                f"horizon_days {self.horizon_days} is not between 1 and {MAX_HORIZON_DAYS}",
                fix="use e.g. 90",
            )
        if self.sweep is not None:
            parse_sweep(self.sweep, book)
        unseen_by_the_model(book, self.start)


def unseen_by_the_model(book: Playbook, start: dt.date) -> None:
    """Refuse to replay the learned score over days its model learned from: trained on the
    expansions up to its ``through``, it would be judged on its own answers."""
    if READINESS not in book.signals():
        return
    card = current_model().card
    if start <= card.through:
        raise UsageError(
            f"the readiness model v{card.version} was trained on data to {card.through}: a "
            f"backtest from {start} would judge it on expansions it learned from",
            fix=f"start the backtest after {card.through}, or train a model on the data before "
            f"it: headroom score train SOURCE --through {start - dt.timedelta(days=1)}",
        )


@dataclass(frozen=True)
class Backtested:
    """A backtest's result: the scores, and the sweep's rows when one was asked."""

    backtest: Backtest
    sweep: Sweep | None = None
    rows: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """As it is kept: :meth:`Backtest.to_dict`, and ``sweep`` (``trigger``, ``number``,
        ``rows``) when one was asked."""
        kept = self.backtest.to_dict()
        if self.sweep is not None:
            kept["sweep"] = swept(self.sweep, self.rows or [])
        return kept


def compute_backtest(source: Source, book: Playbook, ask: BacktestAsk) -> Backtested:
    """The backtest ``ask`` asks for, and its sweep when it asks for one."""
    unseen_by_the_model(book, ask.start)
    result = backtest(source, book, ask.start, ask.end, ask.horizon_days)
    if ask.sweep is None:
        return Backtested(result)
    spec = parse_sweep(ask.sweep, book)
    rows = sweep(source, book, spec, ask.start, ask.end, ask.horizon_days)
    return Backtested(result, spec, rows)


def run_backtest(
    store: Store,
    source: Path,
    playbook: Path,
    ask: BacktestAsk,
    *,
    mapping: Path | None = None,
    engine: str = "duckdb",
    load_source: Loader = load,
) -> Backtested:
    """Backtest ``playbook`` on ``source`` and keep it in ``store`` as a backtest of the
    playbook's version: running, then finished with its result, or failed with the error.
    A sweep that cannot be parsed stops it before the source is read."""
    book = load_playbook(playbook, types())
    if ask.sweep is not None:
        parse_sweep(ask.sweep, book)
    src = on_engine(load_source(source, mapping), engine)
    try:
        version = record_version(store, book)
        asked = {"source": src.name, "start": ask.start, "end": ask.end,
                 "horizon_days": ask.horizon_days, "sweep": ask.sweep}  # fmt: skip
        with recording(store, "backtest", version, **asked) as run:
            done = compute_backtest(src, book, ask)
            kept = done.to_dict()
            finish_run(store, run.id, kept, plays_fired=fired_in(kept))
    finally:
        src.close()
    return done


def swept(spec: Sweep, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A threshold sweep as a result keeps it: the trigger, the number swept, and its rows."""
    return {"trigger": spec.trigger, "number": spec.number, "rows": rows}


def fired_in(result: dict[str, Any]) -> int | None:
    """The firings of all triggers together in a backtest's result (None: only a sweep was
    computed)."""
    for row in result.get("triggers", []):
        if row.get("trigger") == "(all)":
            return int(row["fired"])
    return None


class BusyError(HeadroomError):
    """A backtest is running in this server already."""

    code = "busy"
    http_status = 409


#: One backtest at a time per process: each takes most of the machine while it runs.
_busy = threading.Lock()


def may_start(person: Person) -> None:
    """Refuse a person who may not start backtests (only admins and managers may)."""
    if not person.sees_everything:
        raise ForbiddenError(
            f"a {person.role} cannot start backtests", fix="ask a manager or an admin"
        )


def launch_backtest(
    store: Store,
    person: Person,
    open_source: Callable[[], Source],
    book: Playbook,
    ask: BacktestAsk,
    source_name: str | None = None,
) -> RunInfo:
    """Start a backtest in a thread of its own and return its record (running); it records its
    finish or failure itself. Admins and managers only; one at a time.

    ``open_source`` gives the thread a source of its own (closed when done): an engine
    connection is not shared across threads."""
    may_start(person)
    ask.check(book)
    if not _busy.acquire(blocking=False):
        raise BusyError(
            "a backtest is running already", fix="wait for it to finish, then start this one"
        )
    run: RunInfo | None = None
    try:
        version = record_version(store, book)
        run = start_run(
            store, "backtest", version, person.login, source=source_name, start=ask.start,
            end=ask.end, horizon_days=ask.horizon_days, sweep=ask.sweep,
        )  # fmt: skip
        threading.Thread(
            target=_work, args=(store, run.id, open_source, book, ask),
            name=f"headroom-backtest-{run.id}", daemon=True,
        ).start()  # fmt: skip
    except BaseException as exc:
        _busy.release()
        if run is not None:  # recorded, but its thread never started
            fail_run(store, run.id, failure(exc))
        raise
    return run


def _work(
    store: Store, run_id: int, open_source: Callable[[], Source], book: Playbook, ask: BacktestAsk
) -> None:
    try:
        try:
            source = open_source()
            try:
                with alive(store, run_id):
                    result = compute_backtest(source, book, ask).to_dict()
            finally:
                source.close()
            finish_run(store, run_id, result, plays_fired=fired_in(result))
        except Exception as exc:
            if not isinstance(exc, HeadroomError):
                log.exception("backtest run %s failed", run_id)
            fail_run(store, run_id, failure(exc))
    except Exception:  # the store itself failed: the log is all that is left
        log.exception("backtest run %s could not record how it ended", run_id)
    finally:
        _busy.release()

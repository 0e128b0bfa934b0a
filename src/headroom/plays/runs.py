"""Runs and backtests as the state store keeps them (the playbook's versions are in
:mod:`headroom.plays.versions`).

``headroom run`` and ``headroom backtest`` record each of theirs: a row that says it is running,
then finished with its counts and result, or failed with the error. A backtest's result (per
trigger, by segment and by horizon, and a threshold sweep when one was asked) is kept whole,
because computing it takes seconds to minutes on a large source and the web app shows it on
every visit.

What is recorded is computed elsewhere: the decisions by :mod:`headroom.plays.deciding`, a
backtest by :mod:`headroom.usecases.backtest` (which the command line and the web app share).

>>> run = start_run(store, "backtest", book.version, start=d1, end=d2)  # doctest: +SKIP
>>> finish_run(store, run.id, result)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select

from headroom.errors import HeadroomError, NotFoundError, UsageError
from headroom.logs import logged
from headroom.store.database import Store, aware, jsonable
from headroom.store.models import Run as RunRow
from headroom.triggers.decisions import Decision

log = logging.getLogger("headroom.runs")

Kind = Literal["run", "backtest"]
Status = Literal["running", "finished", "failed"]
KINDS: tuple[Kind, ...] = ("run", "backtest")
STATUSES: tuple[Status, ...] = ("running", "finished", "failed")
#: The longest horizon a backtest is judged over (longer says little and reads years ahead).
MAX_HORIZON_DAYS = 3650
#: How often a running run says it is alive, and how long without a word makes it dead (a
#: process killed outright, or a machine that went down, says nothing more).
HEARTBEAT = dt.timedelta(seconds=30)
STALE = dt.timedelta(minutes=3)


@dataclass(frozen=True)
class RunInfo:
    """A recorded run or backtest (``result`` is left out of lists: None there)."""

    id: int
    kind: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    started_by: str
    source: str | None
    as_of: dt.date | None
    start: dt.date | None
    end: dt.date | None
    horizon_days: int | None
    sweep: str | None
    playbook_version: str
    plays_fired: int | None
    decisions: int | None
    error: str | None
    result: dict[str, Any] | None = None


def _info(row: Any, with_result: bool) -> RunInfo:
    """A run's record from its row (a mapped row, or the columns a list selects)."""
    return RunInfo(
        id=row.id,
        kind=row.kind,
        status=row.status,
        started_at=aware(row.started_at),
        finished_at=aware(row.finished_at) if row.finished_at is not None else None,
        started_by=row.started_by,
        source=row.source,
        as_of=row.as_of,
        start=row.start_date,
        end=row.end_date,
        horizon_days=row.horizon_days,
        sweep=row.sweep,
        playbook_version=row.playbook_version,
        plays_fired=row.plays_fired,
        decisions=row.decisions,
        error=row.error,
        result=row.result if with_result else None,
    )


# -- recording ------------------------------------------------------------------------------------


def start_run(
    store: Store,
    kind: Kind,
    playbook_version: str,
    started_by: str = "cli",
    *,
    source: str | None = None,
    as_of: dt.date | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    horizon_days: int | None = None,
    sweep: str | None = None,
    now: dt.datetime | None = None,
) -> RunInfo:
    """Record a run or backtest as running (finish it with :func:`finish_run` or
    :func:`fail_run`)."""
    if kind not in KINDS:
        raise UsageError(f"kind {kind!r} is not a kind of run", fix="use run or backtest")
    # Cut to the columns' sizes: PostgreSQL refuses a longer text, and a record is no reason
    # for a run to fail.
    started = now or dt.datetime.now(dt.UTC)
    row = RunRow(
        kind=kind,
        status="running",
        started_at=started,
        heartbeat_at=started,
        started_by=started_by[:200],
        source=source[:500] if source is not None else None,
        as_of=as_of,
        start_date=start,
        end_date=end,
        horizon_days=horizon_days,
        sweep=sweep[:200] if sweep is not None else None,
        playbook_version=playbook_version,
    )
    with store.session() as s:
        s.add(row)
        s.flush()
        return _info(row, with_result=False)


def _close(
    store: Store, run_id: int, status: Status, now: dt.datetime | None, **values: Any
) -> RunInfo:
    with store.session() as s:
        row = s.get(RunRow, run_id)
        if row is None:
            raise NotFoundError(f"no run {run_id}", fix=_LISTED)
        row.status = status
        row.finished_at = now or dt.datetime.now(dt.UTC)
        for k, v in values.items():
            setattr(row, k, v)
        return _info(row, with_result=True)


def finish_run(
    store: Store,
    run_id: int,
    result: dict[str, Any],
    plays_fired: int | None = None,
    decisions: int | None = None,
    now: dt.datetime | None = None,
) -> RunInfo:
    """Record a run as finished, with its counts and result (dates as ISO text)."""
    return _close(
        store, run_id, "finished", now, result=jsonable(result), plays_fired=plays_fired,
        decisions=decisions,
    )  # fmt: skip


def fail_run(store: Store, run_id: int, error: str, now: dt.datetime | None = None) -> RunInfo:
    """Record a run as failed, with what went wrong."""
    return _close(store, run_id, "failed", now, error=error)


def failure(exc: BaseException) -> str:
    """What a failed run's record says: a user's mistake as its message and fix; anything
    else as a bug (the details are in the log, never a traceback in the store)."""
    if isinstance(exc, HeadroomError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted before it finished"
    return f"headroom failed unexpectedly ({type(exc).__name__}); this is a bug in headroom"


def beat(store: Store, run_id: int, now: dt.datetime | None = None) -> None:
    """Say that a running run is alive."""
    with store.session() as s:
        row = s.get(RunRow, run_id)
        if row is not None and row.status == "running":
            row.heartbeat_at = now or dt.datetime.now(dt.UTC)


@contextmanager
def alive(store: Store, run_id: int) -> Iterator[None]:
    """Beat for run ``run_id`` every :data:`HEARTBEAT` while the block runs (in a thread: the
    block is busy in the engine)."""
    done = threading.Event()

    def beating() -> None:
        while not done.wait(HEARTBEAT.total_seconds()):
            try:
                beat(store, run_id)
            except Exception:  # a store that is down: the run itself will say so
                log.warning("run %s could not say it is alive", run_id, exc_info=True)

    thread = threading.Thread(target=beating, name=f"headroom-alive-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextmanager
def recording(store: Store, kind: Kind, playbook_version: str, **what: Any) -> Iterator[RunInfo]:
    """A run recorded as running for the block, alive while it runs; failed, with the error,
    if the block raises (the error goes on). The block records the finish itself
    (:func:`finish_run`)."""
    run = start_run(store, kind, playbook_version, **what)
    try:
        with alive(store, run.id), logged(run=run.id):
            log.info("%s %s started", kind, run.id)
            yield run
    except BaseException as exc:
        if get_run(store, run.id).status == "running":  # not closed by the block itself
            fail_run(store, run.id, failure(exc))
        raise


def expire_stale(store: Store, now: dt.datetime | None = None) -> int:
    """Mark failed the runs that say they are running but stopped saying they are alive (their
    process was killed, or their machine went down); how many."""
    now = now or dt.datetime.now(dt.UTC)
    with store.session() as s:
        rows = s.scalars(select(RunRow).where(RunRow.status == "running")).all()
        stale = 0
        for row in rows:
            last = aware(row.heartbeat_at or row.started_at)
            if last < now - STALE:
                row.status = "failed"
                row.finished_at = now
                row.error = (
                    f"stopped without finishing: its process last said it was alive at "
                    f"{last.isoformat(timespec='seconds')} (it was killed, or its machine "
                    "went down); start it again"
                )
                stale += 1
        return stale


# -- reading --------------------------------------------------------------------------------------

_LISTED = "the Backtest page and GET /api/v1/runs list the runs"


def list_runs(
    store: Store,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[RunInfo], int]:
    """Runs newest first, ``limit`` of them from ``offset`` (without their results), and how
    many there are in all."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"kind {kind!r} is not a kind of run", fix="use run or backtest")
    if status is not None and status not in STATUSES:
        raise UsageError(
            f"status {status!r} is not a status of a run", fix=f"use one of {', '.join(STATUSES)}"
        )
    if limit < 1 or offset < 0:
        raise UsageError(
            f"limit {limit} and offset {offset} do not make a page",
            fix="give a limit of at least 1 and an offset of at least 0",
        )
    expire_stale(store)
    wheres = []
    if kind is not None:
        wheres.append(RunRow.kind == kind)
    if status is not None:
        wheres.append(RunRow.status == status)
    # The result stays in the database: a list shows what each run was, not its scores.
    columns = [c for c in RunRow.__table__.columns if c.name != "result"]
    with store.session() as s:
        total = s.scalar(select(func.count()).select_from(RunRow).where(*wheres)) or 0
        rows = s.execute(
            select(*columns)
            .where(*wheres)
            .order_by(RunRow.started_at.desc(), RunRow.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return [_info(r, with_result=False) for r in rows], total


def get_run(store: Store, run_id: int) -> RunInfo:
    """One run with its result."""
    expire_stale(store)
    with store.session() as s:
        row = s.get(RunRow, run_id)
        if row is None:
            raise NotFoundError(f"no run {run_id}", fix=_LISTED)
        return _info(row, with_result=True)


def latest_run(store: Store, kind: Kind, status: Status = "finished") -> RunInfo | None:
    """The newest run of a kind in a status, with its result (None: there is none)."""
    expire_stale(store)
    with store.session() as s:
        row = s.scalars(
            select(RunRow)
            .where(RunRow.kind == kind, RunRow.status == status)
            .order_by(RunRow.started_at.desc(), RunRow.id.desc())
            .limit(1)
        ).first()
        return None if row is None else _info(row, with_result=True)


# -- runs of the playbook ---------------------------------------------------------------------


def summary(day: dt.date, decisions: list[Decision], order: list[str]) -> dict[str, Any]:
    """A run's result as kept: per trigger (in ``order``, the playbook's), the plays fired and
    the skips by reason (the decisions themselves are in the decision log)."""
    fired: Counter[str] = Counter()
    held: Counter[str] = Counter()
    skipped: dict[str, Counter[str]] = {t: Counter() for t in order}
    for d in decisions:
        if d.action == "fired":
            fired[d.trigger] += 1
        elif d.action == "held_out":
            held[d.trigger] += 1
            skipped.setdefault(d.trigger, Counter())
        else:
            skipped.setdefault(d.trigger, Counter())[d.reason or "unknown"] += 1
    return {
        "as_of": day,
        "triggers": [
            {"trigger": t, "fired": fired[t], "skipped": dict(sorted(skipped[t].items()))}
            | ({"held_out": held[t]} if held[t] else {})
            for t in skipped
        ],
    }

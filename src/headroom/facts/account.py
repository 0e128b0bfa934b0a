"""One account as its page shows it: who it is, what it pays for, its usage against its plan's
limits with the projected day each is reached, and its seat utilisation over time.

Everything comes from the signals (the same numbers the triggers read), computed for this one
account on a copy of its own rows (:class:`~headroom.sources.narrow.Narrow`).
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ibis

from headroom.errors import NotFoundError
from headroom.signals.builtin import limits_in_force
from headroom.signals.registry import Context, signal_table
from headroom.sources import Source
from headroom.sources.narrow import Narrow

#: Days of history the page charts.
HISTORY_DAYS = 180
FACTS = ("segment", "health", "tier", "mrr", "seats", "days_to_renewal", "seat_utilisation")
#: The tables those and the usage projections read.
READS = ("accounts", "subscriptions", "plans", "plan_limits", "usage_daily")


@dataclass(frozen=True)
class Usage:
    """One metric's daily values, its plan limit, and when the trend reaches it."""

    metric: str
    points: list[tuple[dt.date, float]]
    limit: float | None = None
    kind: str | None = None  # gauge | per_cycle
    status: str | None = None  # projected | reached | not_growing | too_little_history
    days: float | None = None  # to the limit, from the as-of day
    low: float | None = None  # 80% interval: the earliest likely day ...
    high: float | None = None  # ... and the latest (None: maybe never)

    def on(self, days: float | None, as_of: dt.date) -> dt.date | None:
        return None if days is None else as_of + dt.timedelta(days=round(days))


@dataclass(frozen=True)
class AccountView:
    account_id: str
    as_of: dt.date
    account: dict[str, Any]  # the accounts table's row
    facts: dict[str, Any]  # FACTS on the as-of day
    usage: list[Usage] = field(default_factory=list)
    utilisation: list[tuple[dt.date, float]] = field(default_factory=list)


def account_view(
    source: Source, account_id: str, as_of: dt.date, days: int = HISTORY_DAYS
) -> AccountView:
    """The account's page, as of the end of ``as_of`` (a server keeps an
    :class:`AccountViews` instead: it compiles the queries once)."""
    views = AccountViews(source, engines=1, days=days)
    try:
        return views.view(account_id, as_of)
    finally:
        views.close()


@dataclass(frozen=True)
class _Queries:
    """The page's queries, compiled once against a narrow engine (SQL text)."""

    daily: str  # FACTS on each charted day
    limits: str  # the plan limits in force on the as-of day
    projected: str | None  # days to each metered metric's limit, with the interval
    usage: str  # the charted days' usage
    #: The earliest day of each dated table these read (the rest need not be copied).
    since: dict[str, dt.date]


class _Engine:
    def __init__(self, source: Source, days: int) -> None:
        self.narrow = Narrow(source, READS)
        self.days = days
        self.queries: dict[dt.date, _Queries] = {}

    def compiled(self, as_of: dt.date) -> _Queries:
        """The page's queries for ``as_of``, compiled the first time."""
        q = self.queries.get(as_of)
        if q is None:
            q = self.queries[as_of] = _compile(self.narrow.source, as_of, self.days)
        return q


class AccountViews:
    """Account pages over one source, for a server: each of ``engines`` small engines holds one
    account's rows at a time (:class:`~headroom.sources.narrow.Narrow`) and the signals'
    queries compiled against it once per as-of day; a page fills one engine with its account's
    rows and runs them. Safe to use from several threads (each takes an engine of its own).
    """

    def __init__(self, source: Source, engines: int = 2, days: int = HISTORY_DAYS) -> None:
        self.source = source
        self.days = days
        self._free: queue.LifoQueue[_Engine] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(engines)
        self._made: list[_Engine] = []
        self._lock = threading.Lock()

    def view(self, account_id: str, as_of: dt.date) -> AccountView:
        """The account's page, as of the end of ``as_of``."""
        with self._engine() as engine:
            return self._view(engine, account_id, as_of)

    def prepare(self, as_of: dt.date) -> None:
        """Compile and prepare the page's queries for ``as_of`` ahead of the first page (a
        server does it when it starts: the first compile takes a second or two)."""
        with self._engine() as engine:
            q = engine.compiled(as_of)
            for sql in (q.daily, q.limits, q.projected, q.usage):
                if sql is not None:
                    engine.narrow.run(sql)  # prepared on its first run

    @contextmanager
    def _engine(self) -> Iterator[_Engine]:
        """A free engine (a new one while fewer than ``engines`` are made), given back after."""
        with self._slots:
            try:
                engine = self._free.get_nowait()
            except queue.Empty:
                engine = _Engine(self.source, self.days)
                with self._lock:
                    self._made.append(engine)
            try:
                yield engine
            finally:
                self._free.put(engine)

    def _view(self, engine: _Engine, account_id: str, as_of: dt.date) -> AccountView:
        narrow = engine.narrow
        q = engine.compiled(as_of)
        if not narrow.fill(account_id, q.since):
            raise NotFoundError(f"no account {account_id!r}", fix="the queue links the accounts")
        account = narrow.run('SELECT * FROM "accounts"')[0]
        daily = narrow.run(q.daily)
        today = daily[-1] if daily else {}
        utilisation = [
            (r["day"], float(r["seat_utilisation"]))
            for r in daily
            if r["seat_utilisation"] is not None
        ]
        metered = {r["metric"]: r for r in narrow.run(q.limits)}
        projected: dict[str, Any] = {}
        if metered and q.projected is not None:
            p = narrow.run(q.projected)
            projected = p[0] if p else {}
        by_metric: dict[str, list[tuple[dt.date, float]]] = {}
        for r in narrow.run(q.usage):
            by_metric.setdefault(r["metric"], []).append((r["date"], float(r["value"])))
        usage = []
        for metric in sorted(by_metric, key=lambda m: (m not in metered, m)):
            lim = metered.get(metric) or {}
            base = f"days_to_limit_{metric}"
            usage.append(
                Usage(
                    metric,
                    by_metric[metric],
                    limit=None if lim.get("limit") is None else float(lim["limit"]),
                    kind=lim.get("kind"),
                    status=projected.get(f"projection_{metric}"),
                    days=projected.get(base),
                    low=projected.get(f"{base}_low"),
                    high=projected.get(f"{base}_high"),
                )
            )
        facts = {k: today.get(k) for k in FACTS}
        return AccountView(account_id, as_of, account, facts, usage, utilisation)

    def close(self) -> None:
        """Close the engines (a later view makes new ones)."""
        with self._lock:
            while self._made:
                self._made.pop().narrow.close()
            while not self._free.empty():
                self._free.get_nowait()


def _compile(source: Source, as_of: dt.date, days: int) -> _Queries:
    """The page's queries against a narrow ``source`` (whose plan tables are whole, so the
    metered metrics are every metric any plan limits)."""
    con = source.con
    charted = Context(source, as_of, history=days)
    daily = signal_table(charted, set(FACTS)).order_by("day")
    ctx = Context(source, as_of)
    limits = limits_in_force(ctx)
    limits = limits.filter(limits.day == ibis.literal(as_of)).select("metric", "limit", "kind")
    pl = source.table("plan_limits")
    metrics = pl.select("metric").distinct().to_pyarrow().column("metric").to_pylist()
    names = set()
    for m in metrics:
        base = f"days_to_limit_{m}"
        names |= {base, f"{base}_low", f"{base}_high", f"projection_{m}"}
    projected = signal_table(ctx, names) if names else None
    u = source.table("usage_daily")
    first = as_of - dt.timedelta(days=days - 1)
    u = u.filter((u.date >= ibis.literal(first)) & (u.date <= as_of))
    usage = u.select("metric", "date", "value").order_by("date")
    # Usage is the one large table: copy only the days the signals and the chart read (the
    # signals record how far back they look).
    reached = [c.reach.get("usage_daily", first) for c in (charted, ctx)] + [first]
    since = {} if None in reached else {"usage_daily": min(d for d in reached if d is not None)}
    return _Queries(
        con.compile(daily),
        con.compile(limits),
        None if projected is None else con.compile(projected),
        con.compile(usage),
        since,
    )

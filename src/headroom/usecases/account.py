"""Looking at one account, as its page and the API show it: who it is, what it pays for, its
usage against its plan's limits with the projected day each is reached, and its seat
utilisation over time.

Everything comes from the signals (the same numbers the triggers read), computed for this one
account on a copy of its own rows (:class:`~headroom.sources.narrow.Narrow`).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import ibis
import pyarrow as pa

from headroom.errors import NotFoundError
from headroom.facts.usage_index import UsageIndex, usage_index
from headroom.signals import readiness
from headroom.signals.builtin import limits_in_force
from headroom.signals.calibration import error_quantiles
from headroom.signals.registry import Context, signal_table
from headroom.signals.trend import metered, straight_line
from headroom.sources import Source
from headroom.sources.narrow import Narrow

#: Days of history the page charts.
HISTORY_DAYS = 180
FACTS = ("segment", "health", "tier", "mrr", "seats", "days_to_renewal", "seat_utilisation")
#: The tables those and the usage projections read.
READS = ("accounts", "subscriptions", "plans", "plan_limits", "usage_daily")
#: Batches of account pages a server computes at once, each on a small engine of its own.
#: Most of a page is DuckDB's work, which runs beside another batch's (it releases the GIL);
#: a page costs CPU, not waiting, so on two cores more batches side by side only make each
#: slower, and fewer, larger batches cost less per page (measured at 100,000 accounts with
#: eight pages asked at once: 2 engines, 111 ms of CPU a page; 4, 189 ms; 8, 311 ms).
ENGINES = 2
#: Pages computed together on one engine at most (those asked for while every engine was busy).
BATCH = 16


@dataclass(frozen=True)
class Usage:
    """One metric's daily values, its plan limit, and when the trend reaches it."""

    metric: str
    points: list[tuple[dt.date, float]]
    limit: float | None = None
    kind: str | None = None  # gauge | per_cycle
    status: str | None = (
        None  # projected | reached | not_growing | not_within_a_year | too_little_history
    )
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
    """The page's queries, compiled once against a narrow engine (SQL text, the same for every
    narrow engine: they all have the same tables)."""

    daily: str  # FACTS on each charted day
    limits: str  # the plan limits in force on the as-of day
    projected: str | None  # days to each metered metric's limit, with the interval
    usage: str  # the charted days' usage
    #: The earliest day of each dated table these read (the rest need not be copied).
    since: dict[str, dt.date]
    #: The small tables of the engine's own the queries read (the signals' day spines and
    #: constants), made while compiling: every other engine gets a copy.
    tables: dict[str, pa.Table]

    def all(self) -> list[str]:
        return [sql for sql in (self.daily, self.limits, self.projected, self.usage) if sql]


class _Engine:
    def __init__(self, source: Source) -> None:
        self.narrow = Narrow(source, READS)
        #: The as-of days whose small tables this engine has.
        self.ready: set[dt.date] = set()


@dataclass
class _Asked:
    """One page asked for: waiting, taken into a batch, or done."""

    account_id: str
    as_of: dt.date
    taken: bool = False
    done: bool = False
    view: AccountView | None = None
    error: BaseException | None = None

    def result(self) -> AccountView:
        if self.error is not None:
            raise self.error
        assert self.view is not None
        return self.view


class AccountViews:
    """Account pages over one source, for a server: up to ``engines`` small engines
    (:class:`~headroom.sources.narrow.Narrow`) and the signals' queries compiled once per
    as-of day; a page fills a free engine with its account's rows and runs them there.

    Safe to use from several threads, and pages are computed side by side, one batch per
    engine: a page asked for while every engine is busy waits, and when one is free it is
    computed there together with the pages that gathered meanwhile (up to ``batch``), each on
    its own account's rows. Most of a page's cost is the same for one account as for several
    (finding the accounts' usage scans the recent rows of every account; DuckDB plans the
    signal queries on each run), so under load a page costs a fraction of what it costs alone,
    and alone it is computed at once. Queries run outside any lock; only compiling an as-of
    day's queries, once, is done by one thread while the others wait for it.
    """

    def __init__(
        self,
        source: Source,
        engines: int = ENGINES,
        days: int = HISTORY_DAYS,
        batch: int = BATCH,
    ) -> None:
        self.source = source
        self.days = days
        self.engines = engines
        self.batch = batch
        self._cond = threading.Condition()  # what follows, but the queries
        self._asked: list[_Asked] = []  # waiting, in the order asked
        self._busy = 0  # engines computing (or being made)
        self._made: list[_Engine] = []
        self._free: list[_Engine] = []  # the last given back first
        self._making = threading.Lock()
        self._queries: dict[dt.date, _Queries] = {}
        self._compiling = threading.Lock()
        self._index: UsageIndex | None = None

    def view(self, account_id: str, as_of: dt.date) -> AccountView:
        """The account's page, as of the end of ``as_of``."""
        mine = _Asked(account_id, as_of)
        with self._cond:
            self._asked.append(mine)
            while not mine.done:
                if not mine.taken and self._busy < self.engines:
                    # this page and those that gathered for the same day, first asked first
                    same = [a for a in self._asked if a.as_of == as_of and a is not mine]
                    batch = [mine, *same[: self.batch - 1]]
                    for a in batch:
                        a.taken = True
                        self._asked.remove(a)
                    engine = self._checkout()
                    break
                self._cond.wait()
            else:
                return mine.result()
        try:
            engine = engine or self._make()
            self._compute(engine, batch, as_of)
        except BaseException as exc:
            for a in batch:
                if a.view is None and a.error is None:
                    a.error = exc
        finally:
            with self._cond:
                for a in batch:
                    a.done = True
                if engine is not None:
                    self._free.append(engine)
                self._busy -= 1
                self._cond.notify_all()
        return mine.result()

    def prepare(self, as_of: dt.date, *, index: bool = True) -> None:
        """Compile the page's queries for ``as_of`` and prepare them on every engine, made now,
        ahead of the first pages (a server does it when it starts: compiling takes a second or
        two); then, with ``index``, find or make the copy of a large source's recent usage
        ordered by account (:mod:`~headroom.facts.usage_index`). Pages are served meanwhile."""
        self._prepare_engines(as_of)
        since = self._queries[as_of].since.get("usage_daily")
        if index and since is not None and self._index is None:
            found = usage_index(self.source, since)
            with self._cond:
                self._index = found
                for engine in self._made:
                    self._use_index(engine)

    def _use_index(self, engine: _Engine) -> None:
        if self._index is not None:
            engine.narrow.readers["usage_daily"] = self._index.read

    def _prepare_engines(self, as_of: dt.date) -> None:
        for _ in range(self.engines):
            with self._cond:
                while self._busy >= self.engines:
                    self._cond.wait()
                engine = self._checkout(fresh=True)
            try:
                engine = engine or self._make()
                narrow = engine.narrow
                for sql in self._compiled(engine, as_of).all():
                    narrow.prepare(sql)
            finally:
                with self._cond:
                    if engine is not None:
                        self._free.append(engine)
                    self._busy -= 1
                    self._cond.notify_all()

    def _checkout(self, fresh: bool = False) -> _Engine | None:
        """A free engine, or None for one to make (while none is free, or with ``fresh`` while
        fewer than ``engines`` are made); with the lock held, while fewer are busy."""
        self._busy += 1
        # each engine made is free or busy: once all are made, one is free
        if self._free and not (fresh and len(self._made) < self.engines):
            return self._free.pop()
        return None

    def _make(self) -> _Engine:
        # One at a time: a source's tables that are not stored are read on its connection,
        # which refuses a second query while one runs.
        with self._making:
            engine = _Engine(self.source)
        with self._cond:
            self._use_index(engine)
            self._made.append(engine)
        return engine

    def _compiled(self, engine: _Engine, as_of: dt.date) -> _Queries:
        """The page's queries for ``as_of`` (compiled by the first page to ask, on its engine),
        with the small tables they read on ``engine``."""
        q = self._queries.get(as_of)
        if q is None:
            with self._compiling:
                q = self._queries.get(as_of)
                if q is None:
                    q = self._queries[as_of] = _compile(engine.narrow, as_of, self.days)
                    engine.ready.add(as_of)
        if as_of not in engine.ready:
            for name, rows in q.tables.items():
                engine.narrow.keep(name, rows)
            engine.ready.add(as_of)
        return q

    def _compute(self, engine: _Engine, batch: list[_Asked], as_of: dt.date) -> None:
        """The pages of ``batch``, on ``engine`` filled with all their accounts' rows."""
        narrow = engine.narrow
        q = self._compiled(engine, as_of)
        found = narrow.fill_many([a.account_id for a in batch], q.since)
        accounts = _by_account(narrow.run('SELECT * FROM "accounts"'))
        daily = _by_account(narrow.run(q.daily))
        limits = _by_account(narrow.run(q.limits))
        projected: dict[str, list[dict[str, Any]]] = {}
        if limits and q.projected is not None:
            projected = _by_account(narrow.run(q.projected))
        usage = _by_account(narrow.run(q.usage))
        for a in batch:
            if a.account_id not in found:
                a.error = NotFoundError(
                    f"no account {a.account_id!r}", fix="the queue links the accounts"
                )
                continue
            (account,) = accounts[a.account_id]
            a.view = _view(
                a.account_id,
                as_of,
                account,
                daily.get(a.account_id, []),
                limits.get(a.account_id, []),
                (projected.get(a.account_id) or [{}])[0],
                usage.get(a.account_id, []),
            )

    def close(self) -> None:
        """Close the engines (a later view makes new ones)."""
        with self._cond:
            made, self._made, self._free = self._made, [], []
            index, self._index = self._index, None
        for engine in made:
            engine.narrow.close()
        if index is not None:
            index.close()


def readiness_history(
    source: Source, account_id: str, as_of: dt.date, days: int = HISTORY_DAYS
) -> list[tuple[dt.date, float]] | None:
    """The account's readiness on every 7th of the charted days, as the workspace's latest
    model scores it; None when no model is kept."""
    if not readiness.versions():
        return None
    own = source.own() or source  # a cursor of its own: others may be querying
    try:
        one = own.small_table(
            f"headroom_page_{uuid.uuid4().hex}", ibis.memtable({"account_id": [account_id]})
        )
        with Context(own, as_of, history=days, every=7, accounts=one) as ctx:
            rows = signal_table(ctx, {"readiness"}).order_by("day").to_pyarrow().to_pylist()
    finally:
        if own is not source:
            own.close()
    return [(r["day"], float(r["readiness"])) for r in rows if r["readiness"] is not None]


def _by_account(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by their ``account_id``, in their order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["account_id"], []).append(r)
    return out


def _view(
    account_id: str,
    as_of: dt.date,
    account: dict[str, Any],
    daily: list[dict[str, Any]],
    limits: list[dict[str, Any]],
    projected: dict[str, Any],
    usage_rows: list[dict[str, Any]],
) -> AccountView:
    """One account's page from its rows of the page's queries."""
    today = daily[-1] if daily else {}
    utilisation = [
        (r["day"], float(r["seat_utilisation"])) for r in daily if r["seat_utilisation"] is not None
    ]
    metered = {r["metric"]: r for r in limits}
    by_metric: dict[str, list[tuple[dt.date, float]]] = {}
    for r in usage_rows:
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


def _calibrate(narrow: Narrow, as_of: dt.date) -> None:
    """Give the narrow engine the forecasts' calibration of ``as_of``'s month, computed over
    every account of the whole source: from one account's rows it would be another (none)."""
    big = narrow.big.own() or narrow.big  # a cursor of its own: others may be querying
    try:
        with Context(big, as_of) as whole:
            for metric in metered(whole):
                rows = error_quantiles(whole, metric, straight_line).to_pyarrow()
                name = f"headroom_calibrated_{metric}_{as_of:%Y%m%d}"
                narrow.source.calibrations[metric] = narrow.source.small_table(
                    name, ibis.memtable(rows)
                )
    finally:
        if big is not narrow.big:
            big.close()


def _compile(narrow: Narrow, as_of: dt.date, days: int) -> _Queries:
    """The page's queries against a ``narrow`` engine (whose plan tables are whole, so the
    metered metrics are every metric any plan limits)."""
    source = narrow.source
    con = source.con
    _calibrate(narrow, as_of)
    charted = Context(source, as_of, history=days)
    daily = signal_table(charted, set(FACTS)).order_by("day")
    ctx = Context(source, as_of)
    limits = limits_in_force(ctx)
    limits = limits.filter(limits.day == ibis.literal(as_of))
    limits = limits.select("account_id", "metric", "limit", "kind")
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
    usage = u.select("account_id", "metric", "date", "value").order_by("date")
    # Usage is the one large table: copy only the days the signals and the chart read (the
    # signals record how far back they look).
    reached = [c.reach.get("usage_daily", first) for c in (charted, ctx)] + [first]
    since = {} if None in reached else {"usage_daily": min(d for d in reached if d is not None)}
    compiled = [con.compile(t) for t in (daily, limits, projected, usage) if t is not None]
    # the tables the signals made on the engine while being built (day spines, constants)
    made = {name: narrow.rows(name) for name in sorted(narrow.own_tables())}
    return _Queries(
        compiled[0],
        compiled[1],
        None if projected is None else compiled[2],
        compiled[-1],
        since,
        made,
    )

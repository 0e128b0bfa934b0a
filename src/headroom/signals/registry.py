"""The signal catalogue: named, typed account signals, each computed for every account at once.

A signal is a function from a :class:`Context` (a loaded source, an as-of day and a spine of
days up to it) to an ibis table with ``account_id``, ``day`` and one column per signal it
provides. Built-in signals register
through :func:`signal`, the same decorator a user's own signal module would use::

    @signal("logins_per_seat", SignalType.number, "logins in the last 30 days per seat",
            needs=("events",))
    def logins_per_seat(ctx: Context) -> ir.Table: ...

Every signal reads only data dated on or before the as-of day: ``ctx.table(name)`` hands out
tables already cut at that day, so a signal cannot look ahead by mistake.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.errors import ConfigError
from headroom.playbook.expressions import SignalType
from headroom.sources import Source

#: The column of each table that dates its rows, for cutting at the as-of day.
DATED: dict[str, str] = {
    "subscriptions": "start_date",
    "usage_daily": "date",
    "firmographics": "date",
    "outcomes": "date",
}


def _date_of(t: ir.Table, name: str) -> ir.DateValue | None:
    """The date a row of a source table is dated by (None for undated tables)."""
    if name == "events":
        return t.timestamp.date()
    return t[DATED[name]] if name in DATED else None


@dataclass
class Context:
    """What a signal computes from: the source as of the end of ``as_of``.

    Signals are computed for every account on every day of ``days`` (the as-of day and the
    ``history - 1`` days before it), so that persistence ("for 7 consecutive days") and later
    the backtest are one vectorised pass, not one run per day.

    ``accounts`` (a table with an ``account_id`` column) narrows every table a signal reads,
    and the grid, to those accounts: persistence only needs the history of the accounts whose
    condition holds on the as-of day, a small share of them.
    """

    source: Source
    as_of: dt.date
    history: int = 1
    accounts: ir.Table | None = None
    #: Only every n-th day of the range is a spine day (the days whose ordinal is a multiple
    #: of it, so that two contexts agree on them): a sample of a long history.
    every: int = 1
    _cache: dict[str, ir.Table] = field(default_factory=dict)
    _kept: list[ir.Table] = field(default_factory=list)
    #: Anything else computed once per context (step forms, see :mod:`headroom.signals.steps`).
    memo: dict[str, object] = field(default_factory=dict)
    #: The earliest day each dated table was read from by the signals built on this context
    #: (None: from its first row), so that a caller can copy no more than they read.
    reach: dict[str, dt.date | None] = field(default_factory=dict)

    def once(self, key: str, build: Callable[[], ir.Table]) -> ir.Table:
        """The expression ``build`` makes, built once per context under ``key``."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def shared(self, key: str, build: Callable[[], ir.Table]) -> ir.Table:
        """A table several signals read, computed once by the engine and kept until
        :meth:`close` (a query naming it twice would compute it twice)."""

        return self.once(key, lambda: self.keep(build()))

    def keep(self, table: ir.Table) -> ir.Table:
        """``table`` computed by the engine and kept until :meth:`close`."""
        cached = self.source.cache(table)
        if cached is not table:  # a narrow source keeps nothing (see headroom.sources.narrow)
            self._kept.append(cached)
        return cached

    def close(self) -> None:
        """Release what :meth:`shared` kept in the engine."""
        while self._kept:
            self._kept.pop().release()
        self.memo.clear()

    def beside(self, as_of: dt.date, history: int, every: int = 1) -> Context:
        """A context over other days of the same source and all its accounts, whose kept
        tables are released with this one's and whose reads count as this one's."""
        return Context(self.source, as_of, history, every=every, _kept=self._kept, reach=self.reach)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def first_day(self) -> dt.date:
        """The first day of the spine."""
        return self.as_of - dt.timedelta(days=self.history - 1)

    @property
    def days(self) -> ir.Table:
        """The day spine: one row per day, column ``day``."""
        return self.window_days(1).select("day")

    def window_days(self, n: int) -> ir.Table:
        """The day spine with ``window_start``, the first day of the trailing ``n``-day window
        ending on each day (the day itself is the n-th).

        Computed here as real dates: engines make ``day - interval`` a timestamp, and comparing
        a date column with it casts the column row by row and rules out fast range joins
        (3.5 s instead of 1 s for the latest usage of 100,000 accounts over 15 days).
        """

        def spine() -> ir.Table:
            days = [self.first_day + dt.timedelta(days=i) for i in range(self.history)]
            days = [d for d in days if d.toordinal() % self.every == 0]
            # A table of the engine's own, not an in-memory one: knowing it has only a few
            # rows, the planner loops over it instead of sorting usage for a merge join.
            return self.source.small_table(
                f"headroom_days_{self.as_of:%Y%m%d}_{self.history}_{n}_{self.every}",
                ibis.memtable(
                    {"day": days, "window_start": [d - dt.timedelta(days=n - 1) for d in days]},
                    schema={"day": "date", "window_start": "date"},
                ),
            )

        return self.once(f"_window_{n}", spine)

    def grid(self) -> ir.Table:
        """Every account on every day of the spine: ``account_id, day``."""
        return self.table("accounts").select("account_id").cross_join(self.days)

    def table(self, name: str) -> ir.Table:
        """A source table holding only rows dated on or before the as-of day (and only the
        context's accounts, when it is narrowed to some)."""
        if name in DATED or name == "events":
            self.reach[name] = None
            self.source.note_read(name, None)
        return self._cut(name)

    def _cut(self, name: str) -> ir.Table:
        def cut() -> ir.Table:
            t = self.source.table(name)
            on = _date_of(t, name)
            if on is not None:
                t = t.filter(on <= ibis.literal(self.as_of))
            if self.accounts is not None and "account_id" in t.columns:
                t = t.semi_join(self.accounts, t.account_id == self.accounts.account_id)
            return t

        return self.once(name, cut)

    def recent(self, name: str, lookback: int) -> ir.Table:
        """Rows of a dated table from ``lookback`` days before the spine's first day on:
        what a trailing window of ``lookback`` days can see (an engine scans less)."""
        t = self._cut(name)
        first = self.as_of - dt.timedelta(days=self.history - 1 + lookback)
        if name not in self.reach or (self.reach[name] or first) > first:
            self.reach[name] = first
        self.source.note_read(name, first)
        since = ibis.literal(first)
        on = _date_of(t, name)
        assert on is not None, f"{name} is not a dated table"
        return t.filter(on >= since)

    @property
    def day(self) -> ir.DateScalar:
        return ibis.literal(self.as_of)


Compute = Callable[[Context], ir.Table]
#: A signal's value in words for a play's "why", given the value and the play's other evidence
#: (None: nothing to say, or said with another figure).
Describe = Callable[[Any, Mapping[str, Any]], str | None]
#: The same for a family: the match of the name first.
DescribeMatch = Callable[[re.Match[str], Any, Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class SignalDef:
    """One signal of the catalogue."""

    name: str
    type: SignalType
    help: str
    needs: tuple[str, ...]  # source tables without which the signal has no values
    compute: Compute
    provider: str  # the function computing it (several signals may share one)
    #: How its value reads in a play's "why" (None: in the plain words of its name).
    describe: Describe | None = None


_CATALOGUE: dict[str, SignalDef] = {}


@dataclass(frozen=True)
class Family:
    """Signals named by a pattern, e.g. ``events_<event>_<N>d``: one definition per match."""

    pattern: re.Pattern[str]
    example: str
    type: SignalType
    help: str
    needs: tuple[str, ...]
    make: Callable[[re.Match[str]], Compute]
    shared: str | None = None  # names with the same shared key and first group: one compute
    describe: DescribeMatch | None = None

    def define(self, name: str) -> SignalDef | None:
        m = self.pattern.fullmatch(name)
        if m is None:
            return None
        provider = f"{self.shared}:{m.group(1)}" if self.shared else f"family:{name}"
        said = functools.partial(self.describe, m) if self.describe is not None else None
        return SignalDef(name, self.type, self.help, self.needs, self.make(m), provider, said)


_FAMILIES: list[Family] = []


def family(
    pattern: str,
    example: str,
    type: SignalType,
    help: str,
    *,
    needs: tuple[str, ...] = (),
    shared: str | None = None,
    describe: DescribeMatch | None = None,
) -> Callable[[Callable[[re.Match[str]], Compute]], Callable[[re.Match[str]], Compute]]:
    """Register signals named by a regular expression; the factory builds each one's compute.

    With ``shared``, every name whose first group is the same (``days_to_limit_api_calls`` and
    ``days_to_limit_api_calls_low``) is computed by one query giving all of their columns.
    ``describe`` words a value for a play's "why" (the family owns its names' wording, as it
    owns their pattern).
    """

    def register(
        make: Callable[[re.Match[str]], Compute],
    ) -> Callable[[re.Match[str]], Compute]:
        found = Family(re.compile(pattern), example, type, help, needs, make, shared, describe)
        _FAMILIES.append(found)
        describer.cache_clear()  # a name may now be this family's, worded its way
        return make

    return register


class Catalogue(Mapping[str, SignalType]):
    """Signal names and types, including names made by families (what conditions check)."""

    def __init__(self) -> None:
        self._fixed = {name: s.type for name, s in catalogue().items()}

    def __getitem__(self, name: str) -> SignalType:
        if name in self._fixed:
            return self._fixed[name]
        d = resolve(name)
        if d is None:
            raise KeyError(name)
        return d.type

    def __iter__(self) -> Iterator[str]:
        yield from self._fixed
        yield from (f.example for f in _FAMILIES)

    def __len__(self) -> int:
        return len(self._fixed) + len(_FAMILIES)


def resolve(name: str) -> SignalDef | None:
    """The definition of a signal name: a registered one, or one a family makes."""
    defs = catalogue()
    if name in defs:
        return defs[name]
    for f in _FAMILIES:
        d = f.define(name)
        if d is not None:
            return d
    return None


def signal(
    name: str,
    type: SignalType,
    help: str,
    *,
    needs: tuple[str, ...] = (),
    describe: Describe | None = None,
) -> Callable[[Compute], Compute]:
    """Register a function computing the column ``name`` (and perhaps others) per account;
    ``describe`` words its value for a play's "why" (else the plain words of its name)."""

    def register(compute: Compute) -> Compute:
        if name in _CATALOGUE and _CATALOGUE[name].compute is not compute:
            raise ConfigError(
                f"signal {name!r} is registered twice",
                fix="give one of the signals another name",
            )
        _CATALOGUE[name] = SignalDef(
            name, type, help, needs, compute, compute.__qualname__, describe
        )
        describer.cache_clear()  # as for a family: the name's wording may have changed
        return compute

    return register


def catalogue() -> dict[str, SignalDef]:
    """Every registered signal by name (built-ins are registered on first use)."""
    from headroom.signals import builtin, readiness, trend  # noqa: F401 - registers the built-ins

    return dict(_CATALOGUE)


@functools.lru_cache(maxsize=4096)  # a play's why names the same few signals again and again
def describer(name: str) -> Describe | None:
    """How signal ``name``'s value reads in a play's "why" (None: not a signal, or one
    without wording of its own)."""
    found = resolve(name)
    return found.describe if found is not None else None


def types() -> Catalogue:
    """Signal names and types: what conditions are checked against."""
    return Catalogue()


def missing_tables(source: Source, names: set[str]) -> dict[str, list[str]]:
    """For each signal that the source cannot feed, the tables it lacks."""
    out: dict[str, list[str]] = {}
    for name in sorted(names):
        d = resolve(name)
        lacking = [t for t in (d.needs if d else ()) if not source.has(t)]
        if lacking:
            out[name] = lacking
    return out


def signal_table(ctx: Context, names: set[str]) -> ir.Table:
    """One row per account and spine day with a column per named signal (one pass per provider)."""
    defs = {name: resolve(name) for name in names}
    unknown = sorted(n for n, d in defs.items() if d is None)
    if unknown:
        raise ConfigError(f"unknown signal {unknown[0]!r}", fix="see the signal catalogue")
    out = ctx.grid()
    done: set[str] = set()
    for name in sorted(names):
        d = defs[name]
        assert d is not None
        if d.provider in done:
            continue
        done.add(d.provider)
        part = d.compute(ctx)
        wanted = [c for c in part.columns if c in names]
        part = part.select(*wanted, _sig_account=part.account_id, _sig_day=part.day)
        out = out.left_join(
            part, (out.account_id == part._sig_account) & (out.day == part._sig_day)
        ).drop("_sig_account", "_sig_day")
    return out


def streak(table: ir.Table, condition: ir.BooleanValue, as_of: dt.date) -> ir.Table:
    """Per account, how many consecutive days up to ``as_of`` the condition has held.

    ``table`` is a signal table over a day spine; a day without data does not hold. The count
    is capped by the spine's length: ask for one more day of history than the longest
    persistence a trigger needs.
    """
    marked = table.select("account_id", "day", held=condition)
    broken = marked.filter(~marked.held)
    last_break = broken.group_by("account_id").aggregate(last_break=broken.day.max())
    first_day = marked.day.min()
    spine = marked.group_by("account_id").aggregate(first=first_day)
    joined = spine.left_join(last_break, "account_id")
    day = ibis.literal(as_of)
    held_since = ibis.coalesce(joined.last_break + ibis.interval(days=1), joined.first)
    return joined.select("account_id", days=(day.delta(held_since, unit="day") + 1).cast("int64"))

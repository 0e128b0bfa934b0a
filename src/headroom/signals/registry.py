"""The signal catalogue: named, typed account signals, each computed for every account at once.

A signal is a function from a :class:`Context` (a loaded source and an as-of day) to an ibis
table with ``account_id`` and one column per signal it provides. Built-in signals register
through :func:`signal`, the same decorator a user's own signal module would use::

    @signal("logins_per_seat", SignalType.number, "logins in the last 30 days per seat",
            needs=("events",))
    def logins_per_seat(ctx: Context) -> ir.Table: ...

Every signal reads only data dated on or before the as-of day: ``ctx.table(name)`` hands out
tables already cut at that day, so a signal cannot look ahead by mistake.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass
class Context:
    """What a signal computes from: the source as of the end of ``as_of``."""

    source: Source
    as_of: dt.date
    _cache: dict[str, ir.Table] = field(default_factory=dict)

    def table(self, name: str) -> ir.Table:
        """A source table holding only rows dated on or before the as-of day."""
        if name not in self._cache:
            t = self.source.table(name)
            day = ibis.literal(self.as_of)
            if name == "events":
                t = t.filter(t.timestamp.date() <= day)
            elif name in DATED:
                t = t.filter(t[DATED[name]] <= day)
            self._cache[name] = t
        return self._cache[name]

    @property
    def day(self) -> ir.DateScalar:
        return ibis.literal(self.as_of)


Compute = Callable[[Context], ir.Table]


@dataclass(frozen=True)
class SignalDef:
    """One signal of the catalogue."""

    name: str
    type: SignalType
    help: str
    needs: tuple[str, ...]  # source tables without which the signal has no values
    compute: Compute
    provider: str  # the function computing it (several signals may share one)


_CATALOGUE: dict[str, SignalDef] = {}


def signal(
    name: str, type: SignalType, help: str, *, needs: tuple[str, ...] = ()
) -> Callable[[Compute], Compute]:
    """Register a function computing the column ``name`` (and perhaps others) per account."""

    def register(compute: Compute) -> Compute:
        if name in _CATALOGUE and _CATALOGUE[name].compute is not compute:
            raise ConfigError(
                f"signal {name!r} is registered twice",
                fix="give one of the signals another name",
            )
        _CATALOGUE[name] = SignalDef(name, type, help, needs, compute, compute.__qualname__)
        return compute

    return register


def catalogue() -> dict[str, SignalDef]:
    """Every registered signal by name (built-ins are registered on first use)."""
    from headroom.signals import builtin  # noqa: F401 - registers the built-in signals

    return dict(_CATALOGUE)


def types() -> dict[str, SignalType]:
    """Signal names and types: what conditions are checked against."""
    return {name: s.type for name, s in catalogue().items()}


def missing_tables(source: Source, names: set[str]) -> dict[str, list[str]]:
    """For each signal that the source cannot feed, the tables it lacks."""
    out: dict[str, list[str]] = {}
    for name in sorted(names):
        lacking = [t for t in catalogue()[name].needs if not source.has(t)]
        if lacking:
            out[name] = lacking
    return out


def signal_table(ctx: Context, names: set[str]) -> ir.Table:
    """One row per account with a column for each named signal (computed once per provider)."""
    defs = catalogue()
    unknown = sorted(names - set(defs))
    if unknown:
        raise ConfigError(f"unknown signal {unknown[0]!r}", fix="see the signal catalogue")
    accounts = ctx.source.table("accounts").select("account_id")
    out = accounts
    done: set[str] = set()
    for name in sorted(names):
        d = defs[name]
        if d.provider in done:
            continue
        done.add(d.provider)
        part = d.compute(ctx)
        wanted = [c for c in part.columns if c in names]
        part = part.select("account_id", *wanted).rename(_sig_account="account_id")
        out = out.left_join(part, out.account_id == part._sig_account).drop("_sig_account")
    return out

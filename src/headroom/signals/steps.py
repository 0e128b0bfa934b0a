"""Signals as step functions: the values of the signal table, one row per stretch of days over
which they stay the same instead of one row per account and day.

A backtest asks about every account on every day of a year: 36 million account-days for 100,000
accounts. Most signals change on few of those days (a subscription changes, an event enters or
leaves a window), so their stretches are a small share of the grid, and a condition can be
checked on stretches before any day is spelled out. A signal may register a step form beside its
daily one, through the same kind of decorator a user's own signal would use::

    @steps("mrr", "seats")
    def subscription_steps(ctx: Context) -> Steps: ...

The backtest reads step forms when every signal its conditions need has one, and the signal
table otherwise; both give the same values (a test compares them signal by signal).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import ibis
import ibis.expr.types as ir

from headroom.errors import ConfigError
from headroom.signals.registry import Context

#: The columns every step table has besides its signals.
KEYS = ("account_id", "since", "until")


@dataclass(frozen=True)
class Steps:
    """Signal values per account over stretches of days.

    ``table`` has ``account_id``, ``since`` and ``until`` (the day after the stretch) and a column
    per signal, constant over the stretch. An account's stretches do not overlap; a day in none
    has no values (null), as in the signal table. Stretches lie within the context's days.

    With ``daily``, every stretch is one day (found by its day, not by a range). With
    ``complete``, stretches cover every account of the accounts table on every day (no value
    is ever missing). A signal that changes every day within a stretch is named in
    ``days_since`` (its value is the days from a date column to the day) or ``days_until``
    (from the day to a date column).
    """

    table: ir.Table
    daily: bool = False
    complete: bool = False
    days_since: Mapping[str, str] = field(default_factory=dict)
    days_until: Mapping[str, str] = field(default_factory=dict)

    def signals(self) -> set[str]:
        own = set(self.table.columns) - set(KEYS)
        return (
            (own - set(self.days_since.values()) - set(self.days_until.values()))
            | set(self.days_since)
            | set(self.days_until)
        )

    def constant(self) -> set[str]:
        """The signals that stay the same over each stretch."""
        return self.signals() - set(self.days_since) - set(self.days_until)


StepsCompute = Callable[[Context], Steps]

_STEPS: dict[str, tuple[str, StepsCompute]] = {}
_FAMILIES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], StepsCompute]]] = []


def steps(*names: str) -> Callable[[StepsCompute], StepsCompute]:
    """Register the step form of the named signals (one computation gives all of them)."""

    def register(compute: StepsCompute) -> StepsCompute:
        for name in names:
            if name in _STEPS and _STEPS[name][1] is not compute:
                raise ConfigError(
                    f"the step form of signal {name!r} is registered twice",
                    fix="register one step form per signal",
                )
            _STEPS[name] = (compute.__qualname__, compute)
        return compute

    return register


def steps_family(
    pattern: str,
) -> Callable[[Callable[[re.Match[str]], StepsCompute]], Callable[[re.Match[str]], StepsCompute]]:
    """Register the step form of signals named by a pattern (as :func:`~.registry.family`)."""

    def register(
        make: Callable[[re.Match[str]], StepsCompute],
    ) -> Callable[[re.Match[str]], StepsCompute]:
        _FAMILIES.append((re.compile(pattern), make))
        return make

    return register


def step_form(name: str) -> tuple[str, StepsCompute] | None:
    """The key and computation of a signal's step form (None: it has none)."""
    from headroom.signals import builtin_steps  # noqa: F401 - registers the built-in forms

    if name in _STEPS:
        return _STEPS[name]
    for pattern, make in _FAMILIES:
        m = pattern.fullmatch(name)
        if m is not None:
            return f"{pattern.pattern}:{name}", make(m)
    return None


def has_steps(names: set[str]) -> bool:
    """Whether every named signal has a step form."""
    return all(step_form(n) is not None for n in names)


@dataclass(frozen=True)
class Form:
    """A step form, as the signals ``names`` (of those asked for) come from it."""

    key: str
    steps: Steps
    names: set[str]


def forms(ctx: Context, names: set[str]) -> list[Form]:
    """The step forms giving ``names``, each computed once per context.

    Forms of stretches are stored by the engine; daily forms are as large as the usage they
    come from and stay queries, so that a condition's filter reaches them before anything is
    stored.
    """
    out: dict[str, Form] = {}
    for name in sorted(names):
        found = step_form(name)
        assert found is not None, f"{name} has no step form"
        key, compute = found
        if key not in out:
            memo = f"steps:{key}"
            if memo not in ctx.memo:
                s = compute(ctx)
                ctx.memo[memo] = s if s.daily else replace(s, table=ctx.keep(s.table))
            held = ctx.memo[memo]
            assert isinstance(held, Steps)
            out[key] = Form(key, held, set())
        out[key].names.add(name)
    return list(out.values())


def at_days(ctx: Context, pairs: ir.Table, names: set[str]) -> ir.Table:
    """``pairs`` (``account_id``, ``day`` and any other columns) with a column per named signal,
    its value on that account-day (null where it has none, as in the signal table)."""
    out = pairs
    for n, form in enumerate(forms(ctx, names)):
        s, wanted, t = form.steps, form.names, form.steps.table
        raw = {c for c in wanted if c in t.columns}
        raw |= {s.days_since[c] for c in wanted if c in s.days_since}
        raw |= {s.days_until[c] for c in wanted if c in s.days_until}
        p = f"_s{n}_"
        r = t.select(
            **{f"{p}account": t.account_id, f"{p}since": t.since, f"{p}until": t.until},
            **{p + c: t[c] for c in sorted(raw)},
        )
        on = out.account_id == r[f"{p}account"]
        if s.daily:
            on &= out.day == r[f"{p}since"]
        else:
            on &= (r[f"{p}since"] <= out.day) & (out.day < r[f"{p}until"])
        j = out.left_join(r, on)
        values: dict[str, ir.Value] = {}
        for c in sorted(wanted):
            if c in s.days_since:
                values[c] = j.day.delta(j[p + s.days_since[c]], unit="day").cast("float64")
            elif c in s.days_until:
                values[c] = j[p + s.days_until[c]].delta(j.day, unit="day").cast("float64")
            else:
                values[c] = j[p + c]
        out = j.mutate(**values).drop(*r.columns)
    return out


EPOCH = dt.date(1970, 1, 1)


def day_number(day: ir.DateValue) -> ir.IntegerValue:
    """Days since 1970-01-01: day arithmetic in whole numbers, the same on every engine."""
    return day.delta(ibis.literal(EPOCH), unit="day").cast("int64")


def days_after(day: ir.DateValue, n: int = 1) -> ir.DateValue:
    """The date ``n`` days after ``day``. Engines make date + interval a timestamp, and
    comparing it with a date casts the date row by row; cast back, so that stretches compare
    dates with dates (ibis takes date + interval for a date and drops a cast to date, so the
    cast goes by way of a timestamp)."""
    out: ir.DateValue = (day + ibis.interval(days=n)).cast("timestamp").date()
    return out


def day_stretches(t: ir.Table, stop: ir.DateValue) -> ir.Table:
    """Stretches from change points: ``t`` has ``account_id`` and ``since`` (a day on which
    values may change) and columns; each row's stretch runs to the account's next change point,
    or to ``stop``."""
    w = ibis.window(group_by="account_id", order_by="since")
    return t.mutate(until=ibis.coalesce(t.since.lead().over(w), stop))

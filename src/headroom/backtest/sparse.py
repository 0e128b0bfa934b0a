"""The replay's candidates from the signals' step forms (:mod:`headroom.signals.steps`).

The signal table has a row for every account on every day; a year of 100,000 accounts is 36
million rows, most of them on days no trigger could fire. Here each trigger's condition is
checked on stretches of days over which its signals stay the same, conjuncts that read one step
form filtering it before any join; only the days a condition holds are spelled out, and the
stage and eligibility are read on those days alone. The answers are the signal table's (the
replay's tests run both ways).

It applies when every signal the playbook's stage and triggers read has a step form, no trigger
counts billing cycles, and each condition rules out the days on which a form it reads has no
value (``seats > 10`` does; ``seats > 10 or tier = 'Pro'`` does not for ``seats``).

The base rate of the scores needs the stage on every account-day; above
:data:`STAGE_SAMPLE` account-days it is read on every n-th day of the range, for all accounts
(a systematic sample, reported with the scores).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from headroom.playbook.expressions import (
    Logic,
    Node,
    conjuncts,
    rejects_nulls,
)
from headroom.playbook.model import Playbook
from headroom.signals.registry import Context
from headroom.signals.steps import KEYS, day_number, days_after, forms, has_steps

#: The most account-days the stage is read on for the base rate before it is sampled.
STAGE_SAMPLE = 1_000_000


def read_by_replay(playbook: Playbook) -> set[str]:
    """The signals a replay reads: the stage's, and each trigger's condition and eligibility
    (not owners or routing, which decide who acts, not whether a play fires)."""
    names = set(playbook.entry.names())
    for i in range(len(playbook.model.triggers)):
        names |= playbook.when(i).names()
        if (eligible := playbook.eligible(i)) is not None:
            names |= eligible.names()
    return names


def usable(ctx: Context, playbook: Playbook) -> bool:
    """Whether the playbook's firings can be found from step forms (see the module's text).

    What needs no step form computed is checked first; the rest computes the forms of the
    triggers' signals, which the replay then uses.
    """
    triggers = playbook.model.triggers
    whens = [playbook.when(i) for i in range(len(triggers))]
    if not has_steps(read_by_replay(playbook)):
        return False
    if any(t.persistence is not None and t.persistence.unit != "days" for t in triggers):
        return False
    if any(not when.names() for when in whens):
        return False  # a condition reading no signal: true or false on every day alike
    for when in whens:
        for f in forms(ctx, when.names()):
            if f.names - f.steps.constant():
                return False  # a signal changing within a stretch: read day by day
            if not f.steps.complete and not rejects_nulls(when, f.names):
                return False
    return True


def _local(when: Node, names: set[str]) -> list[Node]:
    """The conjuncts of ``when`` that read only ``names``."""
    return [c for c in conjuncts(when) if c.names() <= names]


def _all(parts: list[Node], t: ir.Table) -> ir.BooleanValue:
    return functools.reduce(lambda a, b: a & b, [c.on(t) for c in parts])


def daily_rows(
    ctx: Context, playbook: Playbook, keep: Callable[[ir.Table], ir.Table] | None = None
) -> dict[str, ir.Table]:
    """Per daily form the triggers read, its rows on which some trigger's conjuncts over it
    hold, stored once for all triggers: a daily form is as large as the usage behind it, so it
    is filtered as it is read (all of it is stored if a trigger reads it beyond conjuncts of
    its own). Stored by ``keep`` when given (a sweep's variant releases its own), else kept
    with the context."""
    wanted: dict[str, list[list[Node]]] = {}
    tables: dict[str, ir.Table] = {}
    for i, _ in enumerate(playbook.model.triggers):
        when = playbook.when(i)
        for f in forms(ctx, when.names()):
            if f.steps.daily:
                wanted.setdefault(f.key, []).append(_local(when, f.names))
                tables[f.key] = f.steps.table
    out = {}
    for key, per in wanted.items():
        memo = f"daily:{key}:{per!r}"
        if memo in ctx.memo:
            kept = ctx.memo[memo]
            assert isinstance(kept, ir.Table)
            out[key] = kept
            continue
        t = tables[key]
        if all(per):
            t = t.filter(functools.reduce(lambda a, b: a | b, [_all(p, t) for p in per]))
        if keep is None:
            ctx.memo[memo] = out[key] = ctx.keep(t)
        else:
            out[key] = keep(t)
    return out


def holding(ctx: Context, when: Node, daily: dict[str, ir.Table]) -> ir.Table:
    """The stretches of days (``account_id, since, until``) on which ``when`` holds;
    ``daily``: the stored rows of daily forms (see :func:`daily_rows`)."""
    tables = []
    for f in forms(ctx, when.names()):
        t = daily.get(f.key, f.steps.table)
        t = t.select(*KEYS, *sorted(f.names))
        mine = _local(when, f.names)
        if mine:  # what one form decides, it decides before any join
            t = t.filter(_all(mine, t))
        tables.append(t)
    # Every form either covers every day or rules the condition out where it has no value
    # (see usable): where one has no stretch, the condition does not hold.
    out = functools.reduce(_intersect, tables[1:], tables[0])
    out = out.filter(when.on(out))
    return out.select(*KEYS)


def _intersect(a: ir.Table, b: ir.Table) -> ir.Table:
    """The overlaps of two tables of stretches, with the columns of both."""
    r = b.rename(_r_account="account_id", _r_since="since", _r_until="until")
    j = a.inner_join(
        r, (a.account_id == r._r_account) & (r._r_since < a.until) & (a.since < r._r_until)
    )
    return j.mutate(
        since=ibis.greatest(j.since, j._r_since), until=ibis.least(j.until, j._r_until)
    ).drop("_r_account", "_r_since", "_r_until")


def _and(parts: list[Node]) -> Node:
    return functools.reduce(lambda a, b: Logic(a.column, "and", a, b), parts)


@dataclass(frozen=True)
class Stage:
    """The stage's entry, split: ``stretches`` where the conjuncts that step forms decide hold
    (None: no conjunct is decided so), and the ``rest``, read day by day."""

    stretches: ir.Table | None
    rest: list[Node]


def split_stage(ctx: Context, playbook: Playbook) -> Stage:
    """The stage's conjuncts over stretch forms (constant over stretches, and ruling out days a
    form has no value on) decided on stretches, stored; the rest left to each day."""
    entry = playbook.entry
    memo = f"stage:{entry!r}"  # a sweep's variants share their stage
    if memo in ctx.memo:
        held = ctx.memo[memo]
        assert isinstance(held, Stage)
        return held
    decided: list[Node] = []
    rest: list[Node] = []
    for c in conjuncts(entry):
        fs = forms(ctx, c.names()) if has_steps(c.names()) else []
        ok = bool(fs) and all(
            not f.steps.daily
            and not (f.names - f.steps.constant())
            and (f.steps.complete or rejects_nulls(c, f.names))
            for f in fs
        )
        (decided if ok else rest).append(c)
    stretches = ctx.keep(holding(ctx, _and(decided), {})) if decided else None
    stage = Stage(stretches, rest)
    ctx.memo[memo] = stage
    return stage


def _runs(stretches: ir.Table) -> ir.Table:
    """Adjacent stretches of an account joined into runs of consecutive days.

    An account's stretches do not overlap, so within a run each starts where the one before
    ends: a stretch's first day less the days of the account's stretches before it is the same
    for the whole run, and greater for each later run (one window, not a second one numbering
    the breaks).
    """
    upto = ibis.window(group_by="account_id", order_by="since", preceding=None, following=0)
    t = stretches.mutate(_days=stretches.until.delta(stretches.since, unit="day"))
    before = t._days.sum().over(upto) - t._days
    t = t.mutate(_run=day_number(t.since) - before)
    return (
        t.group_by(["account_id", "_run"])
        .aggregate(since=t.since.min(), until=t.until.max())
        .drop("_run")
    )


def held_days(
    ctx: Context,
    playbook: Playbook,
    start: dt.date,
    keep: Callable[[ir.Table], ir.Table] | None = None,
) -> ir.Table:
    """``account_id, day, k``: the days from ``start`` on which trigger k's condition held
    for as long as its persistence asks, cut to the stage's stretches (:func:`split_stage`);
    ``keep``: as for :func:`daily_rows`."""
    first = ibis.literal(start)
    daily = daily_rows(ctx, playbook, keep)
    stage = split_stage(ctx, playbook).stretches
    parts = []
    for i, t in enumerate(playbook.model.triggers):
        st = holding(ctx, playbook.when(i), daily)
        if t.persistence is not None and t.persistence.amount > 1:
            st = _runs(st)  # held on a run's n-th day and after
            st = st.mutate(since=days_after(st.since, t.persistence.amount - 1))
        st = st.mutate(since=ibis.greatest(st.since, first))
        st = st.filter(st.since < st.until)
        if stage is not None:  # only the days in the stage are spelled out
            st = _intersect(st, stage.select(*KEYS))
        parts.append(_spelled_out(ctx, st).mutate(k=ibis.literal(i, "int64")))
    return _known(ctx, functools.reduce(ir.Table.union, parts[1:], parts[0]))


def _known(ctx: Context, t: ir.Table) -> ir.Table:
    """``t``'s rows of the accounts the accounts table has, as the signal table has them."""
    known = ctx.table("accounts").select(_k_account="account_id")
    return t.semi_join(known, t.account_id == known._k_account)


def _spelled_out(ctx: Context, stretches: ir.Table) -> ir.Table:
    """``account_id, day``: every day of the stretches."""
    d = ctx.days
    single = stretches.until == days_after(stretches.since)
    one, longer = stretches.filter(single), stretches.filter(~single)
    days = longer.inner_join(d, (longer.since <= d.day) & (d.day < longer.until))
    return one.select("account_id", day=one.since).union(days.select("account_id", "day"))


def admits(ctx: Context, playbook: Playbook, pairs: ir.Table, eligible: bool) -> ir.BooleanValue:
    """Over ``pairs`` (days in the stage's stretches, see :func:`split_stage`), read with
    :func:`stage_names`: whether the account-day is in the stage (and with ``eligible``,
    eligible for its trigger ``k``)."""
    rest = split_stage(ctx, playbook).rest
    ok = _and(rest).on(pairs) if rest else ibis.literal(True)
    if not eligible:
        return ok
    checks = [
        (pairs.k == i, node.on(pairs))
        for i in range(len(playbook.model.triggers))
        if (node := playbook.eligible(i)) is not None
    ]
    return ok & ibis.cases(*checks, else_=True) if checks else ok


def stage_names(ctx: Context, playbook: Playbook, eligible: bool) -> set[str]:
    """The signals :func:`admits` reads."""
    names: set[str] = set().union(*(c.names() for c in split_stage(ctx, playbook).rest))
    if eligible:
        for i in range(len(playbook.model.triggers)):
            if (node := playbook.eligible(i)) is not None:
                names |= node.names()
    return names


def sample_every(accounts: int, start: dt.date, end: dt.date) -> int:
    """Read the stage on every n-th day: 1 up to :data:`STAGE_SAMPLE` account-days."""
    return max(1, math.ceil(accounts * ((end - start).days + 1) / STAGE_SAMPLE))


def sampled_days(
    ctx: Context, playbook: Playbook, start: dt.date, end: dt.date, every: int
) -> ir.Table:
    """``account_id, day``: every ``every``-th day from ``start`` to ``end``, for every account
    in the stage's stretches on it (see :func:`split_stage`)."""
    days = [start + dt.timedelta(days=i) for i in range(0, (end - start).days + 1, every)]
    spine = ctx.source.small_table(
        f"headroom_sampled_{start:%Y%m%d}_{end:%Y%m%d}_{every}",
        ibis.memtable({"day": days}, schema={"day": "date"}),
    )
    stage = split_stage(ctx, playbook).stretches
    if stage is None:
        return ctx.table("accounts").select("account_id").cross_join(spine)
    on = stage.inner_join(spine, (stage.since <= spine.day) & (spine.day < stage.until))
    return _known(ctx, on.select("account_id", "day"))

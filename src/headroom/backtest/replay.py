"""Replay a playbook over every day of a range, as ``headroom run`` would have fired it.

Each day's signals come from data dated on or before that day (the signal table over a spine of
days: one vectorised pass over all accounts and days). What a day decides on its own (the stage,
re-entry after an expansion, eligibility, suppression after a declined conversation in the
source's outcomes) is computed for every account-day at once. What depends on earlier firings,
cooldowns and plays still open, is resolved in rounds: a *chain* is an account's cooldown group
(or, for a trigger without a cooldown, the trigger itself), and each round fires, in every chain
at once, the earliest candidate its previous firings allow (on the same day, the trigger first in
the playbook). A chain fires a few times a year, so a year takes a handful of rounds, not one run
per day.

A replayed play stays open until the account's next expansion, or until the horizon has passed
(nobody records outcomes in a replay: a play that led nowhere within the horizon counts as lost
then), so the same trigger fires again for an account only after that.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from headroom.backtest import sparse
from headroom.errors import UsageError
from headroom.metrics.expansion import expansion_events
from headroom.playbook.model import Playbook
from headroom.signals.builtin import billing_anchor, cycle_start
from headroom.signals.registry import Context, signal_table
from headroom.signals.steps import EPOCH, at_days, day_number
from headroom.sources import Source
from headroom.triggers.rules import cooldown_days, period_days, persistence_days


def number_day(n: int) -> dt.date:
    """The date of a day number."""
    return EPOCH + dt.timedelta(days=n)


def number_of(day: dt.date) -> int:
    """The day number of a date (:func:`day_number` for Python dates)."""
    return (day - EPOCH).days


@dataclass
class Replay:
    """What a replay fired, and the account-days it can be judged against (engine tables)."""

    start: dt.date
    end: dt.date
    horizon: int
    triggers: list[str]
    firings: ir.Table  # account_id, trigger, dn (day number of the day it fired)
    in_stage: ir.Table  # account_id, dn: the replayed account-days in the expansion stage
    stage_every: int = 1  # in_stage holds every n-th day of the range (a sample when n > 1)
    _owner: Replayer | None = None

    def release(self) -> None:
        """Release the engine's copies of the replay's tables."""
        if self._owner is not None:
            self._owner.release()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Replayer:
    """The signals of every account on every day of a range, computed once, from which the
    firings of a playbook (or of variants of its triggers, for a sweep) are replayed.

    The variants must share the playbook's stage and signals; only trigger conditions differ.
    """

    def __init__(
        self,
        source: Source,
        playbook: Playbook,
        start: dt.date,
        end: dt.date,
        horizon: int,
        steps: bool = True,
    ) -> None:
        if end < start:
            raise UsageError(
                f"--end {end} is before --start {start}", fix="give an end on or after the start"
            )
        if horizon < 1:
            raise UsageError(
                f"--horizon-days {horizon} is not a positive number", fix="use e.g. 90"
            )
        self.source, self.playbook = source, playbook
        self.start, self.end, self.horizon = start, end, horizon
        span = max([persistence_days(t) for t in playbook.model.triggers] + [0])
        self.ctx = Context(source, end, history=(end - start).days + 1 + span)
        self._kept: list[ir.Table] = []
        self._table: ir.Table | None = None
        try:
            self.expansions = self.keep(_expansions(self.ctx))
            stage = playbook.model.stage
            reenter = period_days(stage.reenter_after_expansion)
            suppress = period_days(stage.declined_suppression)
            self.expanded = self.keep(_within(self.ctx, self.expansions, reenter))
            self.declined = self.keep(_within(self.ctx, _declines(self.ctx), suppress))
            self.use_steps = steps and sparse.usable(self.ctx, playbook)
            # The base rate reads the stage on the same days whichever way firings are found,
            # so that playbooks compared on one range are judged on the same account-days.
            accounts = self.ctx.table("accounts").count().to_pyarrow().as_py()
            self.stage_every = sparse.sample_every(int(accounts), start, end)
            if self.use_steps:
                pairs = sparse.sampled_days(self.ctx, playbook, start, end, self.stage_every)
                at = self._stage_at(pairs, playbook, eligible=False)
                self.in_stage = self.keep(at.select("account_id", dn=day_number(at.day)))
            else:
                t = self.table
                first = day_number(ibis.literal(start))
                sampled = (t.dn - first) % self.stage_every == 0
                self.in_stage = self.keep(
                    t.filter(t._in_stage & (t.dn >= first) & sampled).select("account_id", "dn")
                )
        except BaseException:
            self.release()
            raise

    @property
    def table(self) -> ir.Table:
        """The signal table of every account-day, with ``dn`` and ``_in_stage`` (computed on
        first use: a replay from step forms needs none)."""
        if self._table is None:
            signals = self.keep(signal_table(self.ctx, self.playbook.signals()))
            table = signals.mutate(dn=day_number(signals.day))
            table = _mark(table, self.expanded, "_expanded")
            table = _mark(table, self.declined, "_declined")
            entry = self.playbook.entry.on(table)
            self._table = self.keep(
                table.mutate(_in_stage=entry & ~table._expanded & ~table._declined)
            )
            self._kept.remove(signals)  # one engine copy of the largest table, not two
            signals.release()
        return self._table

    def _stage_at(self, pairs: ir.Table, playbook: Playbook, eligible: bool) -> ir.Table:
        """The ``pairs`` (account-days) in the stage, not re-entering or suppressed (and with
        ``eligible``, eligible for their trigger ``k``)."""
        at = at_days(self.ctx, pairs, sparse.stage_names(self.ctx, playbook, eligible))
        at = _mark(_mark(at, self.expanded, "_expanded"), self.declined, "_declined")
        ok = sparse.admits(self.ctx, playbook, at, eligible) & ~at._expanded & ~at._declined
        return at.filter(ok)

    def keep(self, t: ir.Table) -> ir.Table:
        """``t`` computed by the engine and kept until :meth:`release`."""
        cached = self.source.cache(t)
        self._kept.append(cached)
        return cached

    def release(self) -> None:
        while self._kept:
            self._kept.pop().release()
        self.ctx.close()

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def replay(self, playbook: Playbook | None = None) -> Replay:
        """The firings of ``playbook`` (by default the one given at the start)."""
        playbook = playbook or self.playbook
        triggers = playbook.model.triggers
        variant: list[ir.Table] = []  # a sweep's variant's own tables, released after it

        def keep(t: ir.Table) -> ir.Table:
            variant.append(self.source.cache(t))
            return variant[-1]

        if self.use_steps and sparse.usable(self.ctx, playbook):
            held = sparse.held_days(
                self.ctx, playbook, self.start, None if playbook is self.playbook else keep
            )
            at = self._stage_at(held, playbook, True)
            parts = [at.select("account_id", dn=day_number(at.day), k=at.k)]
        else:
            parts = self._dense_candidates(playbook)
        chains = ibis.memtable(
            {
                "_c_k": list(range(len(triggers))),
                "chain": [f"group {t.cooldown.group}" if t.cooldown else t.id for t in triggers],
                "cooldown": [cooldown_days(t) if t.cooldown else 0 for t in triggers],
            },
            schema={"_c_k": "int64", "chain": "string", "cooldown": "int64"},
        )
        c = functools.reduce(ir.Table.union, parts[1:], parts[0])
        c = c.inner_join(chains, c.k == chains._c_k).drop("_c_k")
        try:
            candidates = self.keep(c.select("account_id", "dn", "k", "chain", "cooldown"))
        finally:
            for t in variant:
                t.release()
        days = (self.end - self.start).days + 1
        fired = _resolve(self.source, self.expansions, candidates, self.horizon, days)
        names = ibis.memtable(
            {"k": list(range(len(triggers))), "trigger": [t.id for t in triggers]},
            schema={"k": "int64", "trigger": "string"},
        )
        named = fired.inner_join(names, "k")
        firings = self.keep(named.select("account_id", "trigger", "dn"))
        ids = [t.id for t in triggers]
        return Replay(
            self.start, self.end, self.horizon, ids, firings, self.in_stage, self.stage_every
        )

    def _dense_candidates(self, playbook: Playbook) -> list[ir.Table]:
        """Each trigger's candidates (``account_id, dn, k``) from the signal table of every
        account-day."""
        held = _held(self.ctx, playbook, self.table)
        first = day_number(ibis.literal(self.start))
        parts = []
        for i in range(len(playbook.model.triggers)):
            eligible = playbook.eligible_on(i, held)
            ok = held[f"_held_{i}"] & held._in_stage & eligible & (held.dn >= first)
            parts.append(held.filter(ok).select("account_id", "dn", k=ibis.literal(i, "int64")))
        return parts


def replay(
    source: Source,
    playbook: Playbook,
    start: dt.date,
    end: dt.date,
    horizon: int,
    steps: bool = True,
) -> Replay:
    """Every play the playbook would have fired on the days ``start`` to ``end``, each day from
    the data dated on or before it. ``horizon``: days a replayed play stays open at most.
    ``steps``: find the candidates from the signals' step forms where the playbook allows
    (:mod:`headroom.backtest.sparse`); False reads the signal table of every account-day.

    Release the result (or use it as a context manager) to free the engine's tables.
    """
    replayer = Replayer(source, playbook, start, end, horizon, steps)
    try:
        out = replayer.replay()
    except BaseException:
        replayer.release()
        raise
    out._owner = replayer
    return out


def _mark(table: ir.Table, marks: ir.Table, name: str) -> ir.Table:
    """``table`` with a boolean column ``name``: whether its account-day is one of ``marks``."""
    m = marks.select(_m_account="account_id", _m_day="day", **{name: ibis.literal(True)})
    joined = table.left_join(m, (table.account_id == m._m_account) & (table.day == m._m_day))
    joined = joined.drop("_m_account", "_m_day")
    return joined.mutate(**{name: ibis.coalesce(joined[name], False)})


def _expansions(ctx: Context) -> ir.Table:
    """Expansions up to the last replayed day (account_id, date)."""
    events = expansion_events(
        ctx.table("subscriptions"), ctx.table("plans"), ctx.table("accounts"), ctx.as_of
    )
    return events.select("account_id", "date")


def _declines(ctx: Context) -> ir.Table:
    """Declined conversations in the source's outcomes (account_id, date)."""
    o = ctx.table("outcomes")
    return o.filter(o.outcome == "declined").select("account_id", "date")


def _within(ctx: Context, dated: ir.Table, days: int) -> ir.Table:
    """The spine's account-days with a row of ``dated`` in the ``days`` days up to them."""
    d = ctx.window_days(days)
    joined = dated.inner_join(d, (dated.date <= d.day) & (dated.date >= d.window_start))
    return joined.select("account_id", "day").distinct()


def _held(ctx: Context, playbook: Playbook, table: ir.Table) -> ir.Table:
    """``table`` with ``_held_<k>``: trigger k's condition held on the day, for as long as its
    persistence asks (consecutive days, or consecutive completed billing cycles)."""
    span = max(persistence_days(t) for t in playbook.model.triggers)
    cols: dict[str, ir.Value] = {}
    cycles: dict[int, tuple[ir.BooleanValue, int]] = {}
    for i, t in enumerate(playbook.model.triggers):
        when = playbook.when(i).on(table)
        p = t.persistence
        if p is None:
            cols[f"_held_{i}"] = when
        elif p.unit == "days":
            # The spine has every account on every day, so N rows are N consecutive days.
            w = ibis.window(
                group_by="account_id", order_by="day", preceding=p.amount - 1, following=0
            )
            cols[f"_held_{i}"] = when.cast("int64").sum().over(w) == p.amount
        else:
            cycles[i] = (when, p.amount)
    out = table.mutate(**cols)
    return _cycles_held(ctx, out, cycles, span) if cycles else out


def _cycles_held(
    ctx: Context, table: ir.Table, cycles: dict[int, tuple[ir.BooleanValue, int]], span: int
) -> ir.Table:
    """``table`` with ``_held_<k>`` for persistence over billing cycles: on each day, the
    condition held at the end of each of the account's last N completed cycles.

    A cycle's last day is the day before a cycle starts (by the anchor in force that day); a
    day's last completed cycle is the latest such day up to it. As in a run, the N cycle ends
    lie within the ``span`` days before the day (the run's history): an account whose
    subscription lapsed for long does not carry a streak over the gap.
    """
    a = billing_anchor(ctx).select(_a_account="account_id", _a_day="day", _anchor="anchor")
    t = table.left_join(a, (table.account_id == a._a_account) & (table.day == a._a_day)).drop(
        "_a_account", "_a_day"
    )
    tomorrow = t.day + ibis.interval(days=1)
    is_end = ibis.coalesce(cycle_start(tomorrow, t._anchor) == tomorrow, False)
    flags = {f"_c{i}": ibis.coalesce(when, False) for i, (when, _) in cycles.items()}
    t = t.mutate(_is_end=is_end, **{k: v.name(k) for k, v in flags.items()})
    upto = ibis.window(group_by="account_id", order_by="day", preceding=None, following=0)
    t = t.mutate(_last_end=ibis.cases((t._is_end, t.dn), else_=None).max().over(upto))
    ends = t.filter(t._is_end)
    runs: dict[str, ir.Value] = {}
    for i, (_, n) in cycles.items():
        w = ibis.window(group_by="account_id", order_by="day", preceding=n - 1, following=0)
        runs[f"_run{i}"] = ends[f"_c{i}"].cast("int64").sum().over(w) == n
        runs[f"_since{i}"] = ends.dn.min().over(w)  # the earliest of the N ends
    ends = ends.select(_e_account="account_id", _e_dn="dn", **runs)
    j = t.left_join(ends, (t.account_id == ends._e_account) & (t._last_end == ends._e_dn))
    j = j.drop("_e_account", "_e_dn")
    held = {
        f"_held_{i}": ibis.coalesce(j[f"_run{i}"] & (j[f"_since{i}"] >= j.dn - span), False)
        for i in cycles
    }
    return j.mutate(**held)


def _resolve(
    source: Source,
    expansions: ir.Table,
    candidates: ir.Table,
    horizon: int,
    days: int,
) -> ir.Table:
    """The candidates that fire (account_id, chain, k, dn), in rounds over all chains at once.

    A candidate fires when its chain's last firing is at least the trigger's cooldown ago (and
    before that day), and the trigger's own last play has closed: at the account's next
    expansion, or ``horizon`` days after it fired, whichever is first.
    """
    e = expansions.select(_x_account="account_id", _x_dn=day_number(expansions.date))
    fired: ir.Table | None = None
    done: pa.Table | None = None
    name = f"headroom_fired_{uuid.uuid4().hex[:12]}"
    left = candidates  # what may still fire: shrinks every round
    stored: ir.Table | None = None
    try:
        for _ in range(days):  # each round fires a later day in some chain: at most one per day
            c = left
            if fired is not None:
                last = fired.group_by(["account_id", "chain"]).aggregate(_last=fired.dn.max())
                last = last.rename(_l_account="account_id", _l_chain="chain")
                c = c.left_join(
                    last, (c.account_id == last._l_account) & (c.chain == last._l_chain)
                ).drop("_l_account", "_l_chain")
                open_ = fired.group_by(["account_id", "k"]).aggregate(_until=fired.open_until.max())
                open_ = open_.rename(_o_account="account_id", _o_k="k")
                c = c.left_join(
                    open_, (c.account_id == open_._o_account) & (c.k == open_._o_k)
                ).drop("_o_account", "_o_k")
                c = c.filter(
                    (c._last.isnull() | ((c.dn > c._last) & (c.dn >= c._last + c.cooldown)))
                    & (c._until.isnull() | (c.dn >= c._until))
                )
            # The earliest candidate of each chain; on one day, the trigger first in the
            # playbook.
            first = c.group_by(["account_id", "chain"]).aggregate(_key=(c.dn * 1000 + c.k).min())
            nxt = first.select("account_id", "chain", dn=first._key // 1000, k=first._key % 1000)
            later = nxt.left_join(e, (nxt.account_id == e._x_account) & (e._x_dn > nxt.dn))
            closes = later.group_by(["account_id", "chain", "dn", "k"]).aggregate(
                _next=later._x_dn.min()
            )
            closes = closes.mutate(
                open_until=ibis.least(
                    ibis.coalesce(closes._next, closes.dn + horizon), closes.dn + horizon
                )
            ).drop("_next")
            # Each round's firings come back as a small table and go in again as one: the next
            # round reads them, not the query that made them (a plan that grew each round would
            # be planned again in every round, and Spark runs out of memory planning it).
            new = closes.to_pyarrow()
            if new.num_rows == 0:
                break
            done = new if done is None else pa.concat_tables([done, new])
            fired = source.small_table(name, ibis.memtable(done))
            # A chain fires on later days only; one that did not fire this round never will.
            now = ibis.memtable(new).select(_n_account="account_id", _n_chain="chain", _n_dn="dn")
            kept = left.semi_join(
                now,
                (left.account_id == now._n_account)
                & (left.chain == now._n_chain)
                & (left.dn > now._n_dn),
            )
            previous, stored = stored, source.cache(kept)
            left = stored
            if previous is not None:
                previous.release()
    finally:
        if stored is not None:
            stored.release()
    if fired is None:
        return candidates.select("account_id", "chain", "k", "dn").limit(0)
    return fired.select("account_id", "chain", "k", "dn")

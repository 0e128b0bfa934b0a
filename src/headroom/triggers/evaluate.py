"""Evaluate a playbook as of the end of a day: which triggers fire for whom, and why not.

Every decision is taken in the engine, for every account in one query: conditions and their
persistence, the expansion stage and re-entry after an expansion, eligibility, suppression
after a declined conversation, plays already open, cooldowns (from earlier runs and from this
one: the first trigger of a cooldown group in playbook order fires, the later ones wait),
owners and routing. The state store's history goes into the query as a small table. Only the
outcome comes back to Python: one row per account whose condition held, from which the
decisions and plays are written out, with due times computed per timezone.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from headroom.metrics.expansion import expansion_events
from headroom.playbook.model import Duration, Playbook, Timing, Trigger
from headroom.signals.builtin import cycle_streak
from headroom.signals.registry import Context, signal_table, streak
from headroom.sources import Source
from headroom.triggers.decisions import Decision, History, PlayDraft, play_id
from headroom.triggers.evidence import CEILING, beside
from headroom.triggers.holdout import drawn
from headroom.triggers.rules import cooldown_days, period_days, persistence_days
from headroom.triggers.timing import crossings, due_at


def evaluate(
    source: Source,
    playbook: Playbook,
    as_of: dt.date,
    history: History,
    accounts: Sequence[str] | None = None,
) -> list[Decision]:
    """Every decision of the playbook for the end of ``as_of``: per trigger in playbook order,
    one per account whose condition held (for long enough), in account order. ``accounts``:
    only theirs (an event just arrived for them), every table read for them alone."""
    triggers = playbook.model.triggers
    names = playbook.signals() | {"days_to_renewal"}
    names |= set(beside(names))  # the score's reasons, where a condition reads it
    if any(Timing.parse(t.timing).kind == "before_ceiling" for t in triggers):
        # the projected ceiling the play is timed against, and its interval
        names |= set(CEILING)
    # Only persistence needs the signals of past days, and only those its conditions name; the
    # rest is computed for the as-of day alone. Each table is computed once and kept by the
    # engine: the decision query reads it, nothing recomputes it.
    persistent: set[str] = set().union(
        *(playbook.when(i).names() for i, t in enumerate(triggers) if t.persistence is not None)
    )
    only = None
    if accounts is not None:
        only = source.small_table(
            "headroom_evaluated_accounts",
            ibis.memtable({"account_id": list(accounts)}, schema={"account_id": "string"}),
        )
    day_ctx = Context(source, as_of, accounts=only)
    today = source.cache(signal_table(day_ctx, names))  # persistent ones included
    ctx = Context(source, as_of, history=_span(triggers), accounts=_holding(playbook, today))
    table = source.cache(signal_table(ctx, persistent)) if persistent else today
    try:
        rules = [_Rules.of(i, t, playbook) for i, t in enumerate(triggers)]
        query = _decision_query(ctx, day_ctx, table, today, playbook, rules, history)
        rows = query.to_pyarrow()
        fired = {
            r.trigger.id: rows.filter(
                pc.and_(rows[r.col("held")], pc.is_null(rows[r.col("reason")]))
            )["account_id"].to_pylist()
            for r in rules
        }
        moments = crossings(source, playbook, fired, as_of)
        return _write_out(rows, rules, playbook, as_of, history, moments)
    finally:
        # Released in the reverse order of their making: on Spark Connect a table is a plan
        # naming the tables it was made from, and releasing it reads them again.
        if table is not today:
            table.release()  # the engine's copies of the signal tables
        ctx.close()  # its tables were made from today's accounts
        today.release()
        day_ctx.close()


def _span(triggers: list[Trigger]) -> int:
    """Days of signals persistence reads: one more than the longest, to see where it began."""
    return max([persistence_days(t) for t in triggers] + [0]) + 1


def _holding(playbook: Playbook, today: ir.Table) -> ir.Table | None:
    """The accounts whose persistent conditions hold on the as-of day, or None for all.

    A streak of days that ends on the as-of day needs the condition to hold on it, so only
    these accounts' history is computed (a small share on real data). Persistence over billing
    cycles ends with the last completed cycle, not the day, so it reads every account.
    """
    held: list[ir.Table] = []
    for i, trigger in enumerate(playbook.model.triggers):
        if trigger.persistence is None:
            continue
        if trigger.persistence.unit != "days":
            return None
        when = playbook.when(i).on(today)
        held.append(today.filter(when).select("account_id"))
    return functools.reduce(ir.Table.union, held) if held else None


def _expansions(ctx: Context, within: int) -> ir.Table:
    """Each account's latest expansion in the ``within`` days up to the as-of day
    (``account_id``, ``last``).

    An expansion on day d compares the rows in force on d and on d - 1, so only rows in force
    at some point of the window and the day before it take part: an older history is not read.
    """
    s = ctx.table("subscriptions")
    first = ctx.as_of - dt.timedelta(days=within)
    s = s.filter(s.end_date.isnull() | (s.end_date >= ibis.literal(first)))
    events = expansion_events(s, ctx.table("plans"), ctx.table("accounts"), ctx.as_of)
    events = events.filter(events.date > ibis.literal(first))
    return events.group_by("account_id").aggregate(last=events.date.max())


@dataclass(frozen=True)
class _Rules:
    """One trigger's part of the playbook, parsed once per run."""

    index: int
    trigger: Trigger
    group: int | None  # index of its cooldown group among the playbook's groups
    reenter: int  # days
    suppress: int
    cooldown: int | None
    timing: Timing
    evidence: tuple[str, ...]  # the signals its condition names, then the dates shown

    @classmethod
    def of(cls, index: int, trigger: Trigger, playbook: Playbook) -> _Rules:
        stage = playbook.model.stage
        groups = _groups(playbook)
        return cls(
            index=index,
            trigger=trigger,
            group=groups.index(trigger.cooldown.group) if trigger.cooldown else None,
            reenter=period_days(stage.reenter_after_expansion),
            suppress=period_days(stage.declined_suppression),
            cooldown=cooldown_days(trigger) if trigger.cooldown is not None else None,
            timing=Timing.parse(trigger.timing),
            evidence=(*sorted(read := playbook.when(index).names()), *beside(read)),
        )

    def col(self, name: str) -> str:
        """This trigger's column ``name`` in the decision query."""
        return f"_t{self.index}_{name}"


def _groups(playbook: Playbook) -> list[str]:
    """The playbook's cooldown groups, in order of first use."""
    return list(dict.fromkeys(t.cooldown.group for t in playbook.model.triggers if t.cooldown))


def _history_table(history: History, rules: list[_Rules], groups: list[str]) -> ir.Table | None:
    """The state store's history as one row per account it knows something about.

    Columns: account_id, _declined (latest decline), _open_<k> (trigger k has an open play),
    _last_<g> (latest play of cooldown group g). None when the history is empty.
    """
    accounts = sorted(
        set(history.declined_on)
        | {a for a, _ in history.open_plays}
        | {a for a, _ in history.last_fired}
    )
    if not accounts:
        return None
    data: dict[str, Any] = {
        "account_id": pa.array(accounts, pa.string()),
        "_declined": pa.array([history.declined_on.get(a) for a in accounts], pa.date32()),
    }
    for r in rules:
        trigger = r.trigger.id
        data[f"_open_{r.index}"] = pa.array(
            [(a, trigger) in history.open_plays for a in accounts], pa.bool_()
        )
    for g, group in enumerate(groups):
        data[f"_last_{g}"] = pa.array(
            [history.last_fired.get((a, group)) for a in accounts], pa.date32()
        )
    return ibis.memtable(pa.table(data))


def _attach(t: ir.Table, other: ir.Table) -> ir.Table:
    """``t`` with ``other``'s columns for the same account (null where it has no row)."""
    other = other.rename(_key="account_id")
    return t.left_join(other, t.account_id == other._key).drop("_key")


def _decision_query(
    ctx: Context,
    day_ctx: Context,
    table: ir.Table,
    today: ir.Table,
    playbook: Playbook,
    rules: list[_Rules],
    history: History,
) -> ir.Table:
    """One row per account whose condition held for some trigger, with every decision.

    Per trigger k: ``_t<k>_held``; ``_t<k>_reason`` (null: it fires); ``_t<k>_since``, the
    date the reason's period counts from; ``_t<k>_owner``; ``_t<k>_days_held`` or
    ``_t<k>_cycles_held`` for persistence. Shared: the evidence signals, ``_tz``,
    ``_routes`` (a bit per matching routing rule) and the dates timings need.
    """
    as_of = ctx.as_of
    groups = _groups(playbook)
    t = today
    accounts = day_ctx.source.table("accounts")
    t = _attach(
        t,
        accounts.select("account_id", _tz="timezone", _csm="csm", _ae="ae", _segment="segment"),
    )
    stage = playbook.model.stage
    t = _attach(
        t, _expansions(day_ctx, period_days(stage.reenter_after_expansion)).rename(_expanded="last")
    )
    past = _history_table(history, rules, groups)
    if past is not None:
        t = _attach(t, past)
    t = _with_streaks(t, ctx, table, playbook, rules)

    def column(name: str, kind: str) -> ir.Value:
        return t[name] if name in t.columns else ibis.null(kind)

    def within(name: str, days: int) -> ir.BooleanValue:
        """The date ``name`` is less than ``days`` days before the end of the as-of day."""
        return column(name, "date") > ibis.literal(as_of - dt.timedelta(days=days))

    in_stage = playbook.entry.on(t)
    expanded = ibis.coalesce(within("_expanded", period_days(stage.reenter_after_expansion)), False)
    declined = ibis.coalesce(within("_declined", period_days(stage.declined_suppression)), False)
    held: dict[int, ir.BooleanValue] = {}
    passes: dict[int, ir.BooleanValue] = {}  # held, and nothing but this run's cooldown stops it
    out: dict[str, ir.Value] = {}
    for r in rules:
        if r.trigger.persistence is None:
            held[r.index] = playbook.when(r.index).on(t)
        else:
            name = "cycles_held" if r.trigger.persistence.unit == "cycles" else "days_held"
            held[r.index] = t[r.col(name)].notnull()
            out[r.col(name)] = t[r.col(name)]
        eligible = playbook.eligible_on(r.index, t)
        already = ibis.coalesce(column(f"_open_{r.index}", "boolean"), False)
        last = f"_last_{r.group}"
        cooling = (
            ibis.coalesce(within(last, r.cooldown), False)
            if r.group is not None and r.cooldown is not None
            else ibis.literal(False)
        )
        # This run's cooldown: an earlier trigger of the group fires (the first that passes).
        earlier = [
            passes[e.index] for e in rules[: r.index] if e.group is not None and e.group == r.group
        ]
        taken = functools.reduce(operator.or_, earlier) if earlier else ibis.literal(False)
        blocks: list[tuple[ir.BooleanValue, str, ir.Value]] = [
            (~in_stage, "not_in_stage", ibis.null("date")),
            (expanded, "not_in_stage", column("_expanded", "date")),
            (~eligible, "not_eligible", ibis.null("date")),
            (declined, "suppressed", column("_declined", "date")),
            (already, "already_open", ibis.null("date")),
            (cooling, "cooldown", column(last, "date")),
            (taken, "cooldown", ibis.literal(as_of)),
        ]
        stopped = functools.reduce(operator.or_, [b for b, _, _ in blocks[:-1]])
        passes[r.index] = held[r.index] & ~stopped
        out[r.col("held")] = held[r.index]
        out[r.col("reason")] = ibis.cases(*[(b, reason) for b, reason, _ in blocks], else_=None)
        out[r.col("since")] = ibis.cases(*[(b, since) for b, _, since in blocks], else_=None)
        out[r.col("owner")] = _owner(r.trigger, playbook, r.index, t)
        out[r.col("role")] = _owner(r.trigger, playbook, r.index, t, people=False)
    routes = [
        playbook.route_when(k).on(t).cast("int64") * (1 << k)
        for k in range(len(playbook.model.routing))
    ]
    shown = sorted({n for r in rules for n in r.evidence} | {"days_to_renewal", "days_to_limit"})
    query = t.select(
        "account_id",
        "_tz",
        "_segment",
        *[n for n in shown if n in t.columns],
        _routes=functools.reduce(operator.add, routes) if routes else ibis.literal(0),
        **out,
    )
    any_held = functools.reduce(operator.or_, [query[r.col("held")] for r in rules])
    return query.filter(any_held).order_by("account_id")


def _with_streaks(
    t: ir.Table, ctx: Context, table: ir.Table, playbook: Playbook, rules: list[_Rules]
) -> ir.Table:
    """``t`` with each persistent trigger's ``days_held`` or ``cycles_held`` (null: not long
    enough) from the signal table over days."""
    for r in rules:
        persistence = r.trigger.persistence
        if persistence is None:
            continue
        when = playbook.when(r.index).on(table)
        if persistence.unit == "cycles":
            cycles = cycle_streak(ctx, table, when, persistence.amount)
            t = _attach(
                t, cycles.select("account_id", **{r.col("cycles_held"): cycles.cycles_held})
            )
        else:
            days = streak(table, when, ctx.as_of)
            days = days.filter(days.days >= persistence_days(r.trigger))
            t = _attach(t, days.select("account_id", **{r.col("days_held"): days.days}))
    return t


def _owner(
    trigger: Trigger, playbook: Playbook, index: int, t: ir.Table, people: bool = True
) -> ir.StringValue:
    """The owner of a play: the first owner rule that matches; a csm or ae role is the
    account's own (``csm (unassigned)`` when it has none). ``people`` False: the role."""

    def person(role: str) -> ir.StringValue:
        if people and role in ("csm", "ae"):
            return ibis.coalesce(t[f"_{role}"].nullif(""), ibis.literal(f"{role} (unassigned)"))
        return ibis.literal(role)

    if not isinstance(trigger.owner, list):
        return person(trigger.owner)
    cases: list[tuple[ir.BooleanValue, ir.StringValue]] = []
    for j, rule in enumerate(trigger.owner):
        when = playbook.owner_when(index, j)
        if when is None:
            return ibis.cases(*cases, else_=person(rule.owner)) if cases else person(rule.owner)
        cases.append((when.on(t), person(rule.owner)))
    return ibis.cases(*cases, else_=person("csm"))


@functools.lru_cache(maxsize=4096)  # pure; many plays share a zone and an SLA
def _sla_due(fired_on: dt.date, tz: str, sla: dt.timedelta) -> str:
    """When a play fired at the end of ``fired_on`` must have been acted on.

    An SLA is elapsed time: 4 hours from midnight on the night clocks go forward is 05:00.
    """
    fired_at = due_at(Timing("immediately", ()), fired_on, tz)
    return (fired_at.astimezone(dt.UTC) + sla).astimezone(fired_at.tzinfo).isoformat()


def _write_out(
    rows: pa.Table,
    rules: list[_Rules],
    playbook: Playbook,
    as_of: dt.date,
    history: History,
    moments: dict[tuple[str, str], dt.datetime],
) -> list[Decision]:
    """The decision query's rows as decisions and plays (the plays' due times and ids)."""
    routing = playbook.model.routing
    slas = [Duration.parse(r.sla).timedelta() if r.sla else None for r in routing]

    @functools.cache
    def routed(mask: int) -> tuple[tuple[str, ...], dt.timedelta | None, tuple[str, ...]]:
        matched = [k for k in range(len(routing)) if mask >> k & 1]
        notify = tuple(dict.fromkeys(n for k in matched for n in routing[k].notify))
        within = [sla for k in matched if (sla := slas[k]) is not None]
        escalate = tuple(dict.fromkeys(n for k in matched for n in routing[k].escalate))
        return notify, min(within) if within else None, escalate

    has = set(rows.column_names)
    experiment = playbook.model.experiment_name
    decisions: list[Decision] = []
    for r in rules:
        part = rows.filter(rows[r.col("held")])
        streak_of = next((c for c in ("days_held", "cycles_held") if r.col(c) in has), None)
        evidence = [n for n in r.evidence if n in has]
        if r.timing.kind == "before_ceiling":  # what the play is timed against, how surely
            evidence += [n for n in CEILING if n not in evidence and n in has]
        names = [*evidence, *([streak_of] if streak_of else [])]
        cols = {n: part[n].to_pylist() for n in evidence}
        if streak_of:
            cols[streak_of] = part[r.col(streak_of)].to_pylist()
        account = part["account_id"].to_pylist()
        reason = part[r.col("reason")].to_pylist()
        since = part[r.col("since")].to_pylist()
        owner = part[r.col("owner")].to_pylist()
        role = part[r.col("role")].to_pylist()
        tz = part["_tz"].to_pylist()
        segment = part["_segment"].to_pylist()
        routes = part["_routes"].to_pylist()
        to_renewal = part["days_to_renewal"].to_pylist() if "days_to_renewal" in has else None
        to_limit = part["days_to_limit"].to_pylist() if "days_to_limit" in has else None
        trigger = r.trigger
        periods = {"not_in_stage": r.reenter, "suppressed": r.suppress, "cooldown": r.cooldown}
        for i, acct in enumerate(account):
            why = reason[i]
            if why is not None:
                start, period = since[i], periods.get(why)
                until = start + dt.timedelta(days=period) if start and period else None
                decisions.append(Decision(acct, trigger.id, "skipped", why, until))
                continue
            zone = tz[i] or "UTC"
            renews = ceiling = None
            if r.timing.kind == "before_renewal" and to_renewal and to_renewal[i] is not None:
                renews = as_of + dt.timedelta(days=int(to_renewal[i]))
            if to_limit is not None and to_limit[i] is not None:
                # Rounded first: a fitted 108.0000000001 days is 108 days, not 109.
                ceiling = as_of + dt.timedelta(days=math.ceil(round(to_limit[i], 6)))
            due = due_at(r.timing, as_of, zone, renews, ceiling if r.timing.kind ==
                         "before_ceiling" else None, moments.get((trigger.id, acct)))  # fmt: skip
            shown = {n: cols[n][i] for n in names}
            if r.timing.kind == "before_ceiling":
                shown["projected_ceiling"] = ceiling  # None: no projection, so due at once
            notify, sla, escalate = routed(routes[i])
            play = PlayDraft(
                play_id=play_id(acct, trigger.id, as_of, history.id_key),
                account_id=acct,
                trigger=trigger.id,
                fired_on=as_of,
                due_at=due.isoformat(),
                owner=owner[i],
                role=role[i],
                escalate=escalate,
                offer=trigger.offer,
                priority=trigger.priority,
                evidence=shown,
                playbook_version=playbook.version,
                notify=notify,
                sla_due_at=_sla_due(as_of, zone, sla) if sla is not None else None,
                segment=segment[i],
            )
            if share := playbook.model.holdout_of(trigger):
                # an account keeps the arm it was first given, whatever the share is now
                arm = history.arms.get((experiment, acct, trigger.id)) or drawn(
                    experiment, trigger.id, acct, share
                )
                play = replace(play, experiment=experiment, arm=arm)
            action = "held_out" if play.arm == "held_out" else "fired"
            decisions.append(Decision(acct, trigger.id, action, play=play))
    return decisions

"""Evaluate a playbook as of the end of a day: which triggers fire for whom, and why not.

Conditions, persistence, stage entry, eligibility and owner rules are evaluated in the engine
for every account in one query per trigger; only the candidate rows (accounts whose condition
held) come back to Python, where the decisions that depend on the state store (already open,
cooldown, suppression) are taken.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.errors import ConfigError
from headroom.metrics.expansion import expansion_events
from headroom.playbook.expressions import compile_condition
from headroom.playbook.model import Duration, Playbook, Timing, Trigger
from headroom.signals.builtin import cycle_streak
from headroom.signals.registry import Context, signal_table, streak
from headroom.sources import Source
from headroom.triggers.timing import due_at


@dataclass(frozen=True)
class PlayDraft:
    play_id: str
    account_id: str
    trigger: str
    fired_on: dt.date
    due_at: str
    owner: str
    offer: str
    priority: int
    evidence: dict[str, Any]
    playbook_version: str
    notify: tuple[str, ...] = ()  # from the playbook's routing rules that match
    sla_due_at: str | None = None  # the tightest SLA of those rules, from when it fired


@dataclass(frozen=True)
class Decision:
    account_id: str
    trigger: str
    action: str  # fired | skipped
    reason: str | None = None  # not_in_stage, not_eligible, already_open, cooldown, suppressed
    until: dt.date | None = None
    play: PlayDraft | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "account_id": self.account_id,
            "trigger": self.trigger,
            "action": self.action,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.until:
            out["until"] = self.until
        if self.play:
            out["play_id"] = self.play.play_id
        return out


@dataclass
class History:
    """What the state store knows that a decision depends on (read before the run)."""

    open_plays: set[tuple[str, str]] = field(default_factory=set)  # (account, trigger)
    last_fired: dict[tuple[str, str], dt.date] = field(default_factory=dict)  # (account, group)
    declined_on: dict[str, dt.date] = field(default_factory=dict)  # account -> latest decline


def source_declines(source: Source, as_of: dt.date) -> dict[str, dt.date]:
    """Latest declined conversation per account in the source's outcomes, up to the day."""
    o = source.table("outcomes")
    d = o.filter((o.outcome == "declined") & (o.date <= as_of))
    last = d.group_by("account_id").aggregate(last=d.date.max()).to_pyarrow()
    return dict(zip(last["account_id"].to_pylist(), last["last"].to_pylist(), strict=True))


def play_id(account_id: str, trigger: str, fired_on: dt.date) -> str:
    """Deterministic: the same account, trigger and day always make the same play."""
    return hashlib.sha256(f"{account_id}|{trigger}|{fired_on}".encode()).hexdigest()[:16]


def _days(text: str) -> int:
    d = Duration.parse(text)
    if d.unit != "days":
        raise ConfigError(f"{text!r} must be in days here", fix="write e.g. 30d")
    return d.amount


#: Days of history that cover N completed monthly billing cycles before the as-of day.
CYCLE_DAYS = 31


def _persistence_days(trigger: Trigger) -> int:
    """Days of history a trigger's persistence needs (cycles: enough for that many cycles)."""
    p = trigger.persistence
    if p is None:
        return 0
    if p.unit == "cycles":
        return (p.amount + 1) * CYCLE_DAYS
    if p.unit != "days":
        raise ConfigError(
            f"trigger {trigger.id}: for: {p} is finer than the daily data",
            fix="write the persistence in days, e.g. for: 7d",
        )
    return p.amount


def _cooldown_days(trigger: Trigger) -> int:
    if trigger.cooldown is None:
        return 0
    period = trigger.cooldown.period.strip().lower()
    if period in ("contract term", "term"):
        return 365  # once per (annual) contract term
    return _days(trigger.cooldown.period)


def evaluate(
    source: Source, playbook: Playbook, as_of: dt.date, history: History
) -> list[Decision]:
    """Every decision of the playbook for the end of ``as_of``."""
    triggers = playbook.model.triggers
    names = playbook.signals() | {"days_to_renewal"}
    if any(Timing.parse(t.timing).kind == "before_ceiling" for t in triggers):
        names.add("days_to_limit")  # the projected ceiling the play is timed against
    # Only persistence needs the signals of past days, and only those its conditions name; the
    # rest is computed for the as-of day alone. Each table is computed once and kept by the
    # engine: every trigger's query reads it, none recomputes it.
    persistent: set[str] = set().union(
        *(
            playbook.conditions[("triggers", i, "when")].names()
            for i, t in enumerate(triggers)
            if t.persistence is not None
        )
    )
    day_ctx = Context(source, as_of)
    today = source.cache(signal_table(day_ctx, names | persistent))
    ctx = Context(source, as_of, history=_span(triggers), accounts=_holding(playbook, today))
    table = source.cache(signal_table(ctx, persistent)) if persistent else today
    try:
        accounts = source.table("accounts").select(
            acct="account_id", timezone="timezone", csm="csm", ae="ae"
        )
        stage = compile_condition(playbook.conditions[("stage", "entry")], today)
        reenter = _days(playbook.model.stage.reenter_after_expansion)
        last_expansion = _last_expansions(day_ctx, reenter)
        decisions: list[Decision] = []
        for i, trigger in enumerate(triggers):
            rules = _Rules.of(trigger, playbook)
            rows = _candidates(ctx, table, today, stage, accounts, playbook, i, trigger)
            for row in rows:
                decision = _decide(row, rules, as_of, history, last_expansion)
                decisions.append(decision)
                if decision.action == "fired":  # later triggers of this run see it
                    history.open_plays.add((decision.account_id, trigger.id))
                    if trigger.cooldown is not None:
                        key = (decision.account_id, trigger.cooldown.group)
                        history.last_fired[key] = as_of
        return decisions
    finally:
        if table is not today:
            table.release()  # the engine's copies of the signal tables
        today.release()
        ctx.close()
        day_ctx.close()


def _span(triggers: list[Trigger]) -> int:
    """Days of signals persistence reads: one more than the longest, to see where it began."""
    return max([_persistence_days(t) for t in triggers] + [0]) + 1


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
        when = compile_condition(playbook.conditions[("triggers", i, "when")], today)
        held.append(today.filter(when).select("account_id"))
    return functools.reduce(ir.Table.union, held) if held else None


def _last_expansions(ctx: Context, within: int) -> dict[str, dt.date]:
    """Each account's latest expansion in the ``within`` days up to the as-of day.

    An expansion on day d compares the rows in force on d and on d - 1, so only rows in force
    at some point of the window and the day before it take part: an older history is not read.
    """
    s = ctx.table("subscriptions")
    first = ctx.as_of - dt.timedelta(days=within)
    s = s.filter(s.end_date.isnull() | (s.end_date >= ibis.literal(first)))
    events = expansion_events(s, ctx.table("plans"), ctx.source.table("accounts"), ctx.as_of)
    events = events.filter(events.date > ibis.literal(first))
    last = events.group_by("account_id").aggregate(last=events.date.max()).to_pyarrow()
    return dict(zip(last["account_id"].to_pylist(), last["last"].to_pylist(), strict=True))


def _candidates(
    ctx: Context,
    table: ir.Table,
    today: ir.Table,
    stage: ir.BooleanValue,
    accounts: ir.Table,
    playbook: Playbook,
    index: int,
    trigger: Trigger,
) -> list[dict[str, Any]]:
    """Accounts whose condition holds (for long enough) as of the day, with what decides."""
    when = playbook.conditions[("triggers", index, "when")]
    need = _persistence_days(trigger)
    cols: dict[str, Any] = {
        "in_stage": stage,
        "eligible": (
            compile_condition(playbook.conditions[("triggers", index, "eligible")], today)
            if trigger.eligible
            else ibis.literal(True)
        ),
    }
    if isinstance(trigger.owner, list):
        for j, rule in enumerate(trigger.owner):
            loc = ("triggers", index, "owner", j, "when")
            cols[f"_owner_{j}"] = (
                compile_condition(playbook.conditions[loc], today)
                if rule.when
                else ibis.literal(True)
            )
    for k, _route in enumerate(playbook.model.routing):
        cols[f"_route_{k}"] = compile_condition(playbook.conditions[("routing", k, "when")], today)
    evidence = sorted(when.names())
    dates = [c for c in ("days_to_renewal", "days_to_limit") if c in today.columns]
    base = today.select("account_id", *dict.fromkeys([*evidence, *dates]), **cols)
    persistence = trigger.persistence
    if persistence is not None and persistence.unit == "cycles":
        by_cycle = cycle_streak(ctx, table, compile_condition(when, table), persistence.amount)
        by_cycle = by_cycle.select(h_account="account_id", cycles_held="cycles_held")
        base = base.inner_join(by_cycle, base.account_id == by_cycle.h_account).drop("h_account")
    elif need:
        held = streak(table, compile_condition(when, table), ctx.as_of)
        held = held.filter(held.days >= need).select(h_account="account_id", days_held="days")
        base = base.inner_join(held, base.account_id == held.h_account).drop("h_account")
    else:
        base = base.filter(compile_condition(when, today))
    base = base.left_join(accounts, base.account_id == accounts.acct).drop("acct")
    return list(base.order_by("account_id").to_pyarrow().to_pylist())


@functools.lru_cache(maxsize=4096)  # pure; many plays share a zone and an SLA
def _sla_due(fired_on: dt.date, tz: str, sla: dt.timedelta) -> str:
    """When a play fired at the end of ``fired_on`` must have been acted on.

    An SLA is elapsed time: 4 hours from midnight on the night clocks go forward is 05:00.
    """
    fired_at = due_at(Timing("immediately", ()), fired_on, tz)
    return (fired_at.astimezone(dt.UTC) + sla).astimezone(fired_at.tzinfo).isoformat()


_NOT_EVIDENCE = frozenset(
    ("account_id", "in_stage", "eligible", "timezone", "csm", "ae", "days_to_renewal")
)


@dataclass(frozen=True)
class _Rules:
    """What a trigger's decisions need from the playbook, parsed once per run, not per row."""

    trigger: Trigger
    version: str
    reenter: dt.timedelta
    suppress: dt.timedelta
    cooldown: dt.timedelta | None
    timing: Timing
    owners: tuple[tuple[str, str], ...]  # (row flag, role); the first flag set wins
    routes: tuple[tuple[str, tuple[str, ...], dt.timedelta | None], ...]  # flag, notify, sla

    @classmethod
    def of(cls, trigger: Trigger, playbook: Playbook) -> _Rules:
        stage = playbook.model.stage
        owners = (
            tuple((f"_owner_{j}", r.owner) for j, r in enumerate(trigger.owner))
            if isinstance(trigger.owner, list)
            else (("", trigger.owner),)
        )
        routes = tuple(
            (f"_route_{k}", tuple(r.notify), Duration.parse(r.sla).timedelta() if r.sla else None)
            for k, r in enumerate(playbook.model.routing)
        )
        return cls(
            trigger=trigger,
            version=playbook.version,
            reenter=dt.timedelta(days=_days(stage.reenter_after_expansion)),
            suppress=dt.timedelta(days=_days(stage.declined_suppression)),
            cooldown=(
                dt.timedelta(days=_cooldown_days(trigger)) if trigger.cooldown is not None else None
            ),
            timing=Timing.parse(trigger.timing),
            owners=owners,
            routes=routes,
        )

    def owner(self, row: dict[str, Any]) -> str:
        role = next((r for flag, r in self.owners if not flag or row.get(flag)), "csm")
        if role in ("csm", "ae"):
            return str(row.get(role) or f"{role} (unassigned)")
        return role


def _decide(
    row: dict[str, Any],
    rules: _Rules,
    as_of: dt.date,
    history: History,
    last_expansion: dict[str, dt.date],
) -> Decision:
    account = row["account_id"]
    trigger = rules.trigger
    if not row["in_stage"]:
        return Decision(account, trigger.id, "skipped", "not_in_stage")
    # In the stage but for a recent expansion: say when the account re-enters it.
    expanded = last_expansion.get(account)
    if expanded is not None and as_of < expanded + rules.reenter:
        return Decision(account, trigger.id, "skipped", "not_in_stage", expanded + rules.reenter)
    if not row["eligible"]:
        return Decision(account, trigger.id, "skipped", "not_eligible")
    declined = history.declined_on.get(account)
    if declined is not None and as_of < declined + rules.suppress:
        return Decision(account, trigger.id, "skipped", "suppressed", declined + rules.suppress)
    if (account, trigger.id) in history.open_plays:
        return Decision(account, trigger.id, "skipped", "already_open")
    if rules.cooldown is not None:
        assert trigger.cooldown is not None
        last = history.last_fired.get((account, trigger.cooldown.group))
        if last is not None and as_of < last + rules.cooldown:
            return Decision(account, trigger.id, "skipped", "cooldown", last + rules.cooldown)
    tz = row.get("timezone") or "UTC"
    to_renewal, to_limit = row.get("days_to_renewal"), row.get("days_to_limit")
    renews = as_of + dt.timedelta(days=int(to_renewal)) if to_renewal is not None else None
    # Rounded first: a fitted 108.0000000001 days is 108 days, not 109.
    ceiling = (
        as_of + dt.timedelta(days=math.ceil(round(to_limit, 6))) if to_limit is not None else None
    )
    due = due_at(rules.timing, as_of, tz, renews, ceiling)
    evidence = {k: v for k, v in row.items() if k not in _NOT_EVIDENCE and not k.startswith("_")}
    if rules.timing.kind == "before_ceiling":
        evidence["projected_ceiling"] = ceiling  # None: no projection, so due at once
    matched = [(notify, sla) for flag, notify, sla in rules.routes if row.get(flag)]
    notify = tuple(dict.fromkeys(n for names, _ in matched for n in names))
    slas = [sla for _, sla in matched if sla is not None]
    play = PlayDraft(
        play_id=play_id(account, trigger.id, as_of),
        account_id=account,
        trigger=trigger.id,
        fired_on=as_of,
        due_at=due.isoformat(),
        owner=rules.owner(row),
        offer=trigger.offer,
        priority=trigger.priority,
        evidence=evidence,
        playbook_version=rules.version,
        notify=notify,
        sla_due_at=_sla_due(as_of, tz, min(slas)) if slas else None,
    )
    return Decision(account, trigger.id, "fired", play=play)

"""One account as its page shows it: who it is, what it pays for, its usage against its plan's
limits with the projected day each is reached, and its seat utilisation over time.

Everything comes from the signals (the same numbers the triggers read), computed for this one
account on a copy of its own rows (:meth:`~headroom.sources.Source.narrowed`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis

from headroom.errors import NotFoundError
from headroom.signals.builtin import limits_in_force
from headroom.signals.registry import Context, signal_table
from headroom.sources import Source

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
    """The account's page, as of the end of ``as_of``."""
    one = source.narrowed(account_id, READS)
    try:
        rows = one.table("accounts").to_pyarrow().to_pylist()
        if not rows:
            raise NotFoundError(f"no account {account_id!r}", fix="the queue links the accounts")
        return _view(one, account_id, as_of, days, rows[0])
    finally:
        one.close()


def _view(
    source: Source, account_id: str, as_of: dt.date, days: int, account: dict[str, Any]
) -> AccountView:
    """:func:`account_view` over a source holding only this account's rows."""
    daily = signal_table(Context(source, as_of, history=days), set(FACTS))
    daily = daily.order_by("day").to_pyarrow().to_pylist()
    today = daily[-1] if daily else {}
    utilisation = [
        (r["day"], float(r["seat_utilisation"])) for r in daily if r["seat_utilisation"] is not None
    ]

    ctx = Context(source, as_of)
    limits = limits_in_force(ctx)
    limits = limits.filter(limits.day == ibis.literal(as_of)).select("metric", "limit", "kind")
    metered = {r["metric"]: r for r in limits.to_pyarrow().to_pylist()}
    projected: dict[str, Any] = {}
    if metered:
        names = set()
        for m in metered:
            base = f"days_to_limit_{m}"
            names |= {base, f"{base}_low", f"{base}_high", f"projection_{m}"}
        p = signal_table(ctx, names).to_pyarrow().to_pylist()
        projected = p[0] if p else {}

    u = source.table("usage_daily")
    first = as_of - dt.timedelta(days=days - 1)
    u = u.filter((u.date >= ibis.literal(first)) & (u.date <= as_of))  # this account's only
    by_metric: dict[str, list[tuple[dt.date, float]]] = {}
    for r in u.select("metric", "date", "value").order_by("date").to_pyarrow().to_pylist():
        by_metric.setdefault(r["metric"], []).append((r["date"], float(r["value"])))
    usage = []
    for metric in sorted(by_metric, key=lambda m: (m not in metered, m)):
        lim = metered.get(metric) or {}
        base = f"days_to_limit_{metric}"
        usage.append(
            Usage(
                metric,
                by_metric[metric],
                limit=lim.get("limit"),
                kind=lim.get("kind"),
                status=projected.get(f"projection_{metric}"),
                days=projected.get(base),
                low=projected.get(f"{base}_low"),
                high=projected.get(f"{base}_high"),
            )
        )
    facts = {k: today.get(k) for k in FACTS}
    return AccountView(account_id, as_of, account, facts, usage, utilisation)

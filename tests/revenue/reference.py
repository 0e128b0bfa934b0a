"""Plain-Python references of the revenue maths (DATA.md, CLI.md), for the property tests:
a row is ``(account, start, end or None, mrr)``, its end exclusive."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from headroom.metrics.revenue import add_months

Row = tuple[str, dt.date, dt.date | None, Decimal]


def month_mrr(rows: list[Row], account: str, month: dt.date) -> Decimal:
    """The account's MRR on a day (a month's is its first day's): its rows in force summed."""
    return sum(
        (m for a, s, e, m in rows if a == account and s <= month and (e is None or month < e)),
        Decimal(0),
    )


def reference_movements(rows: list[Row], through: dt.date) -> list[tuple[Any, ...]]:
    """CLI.md's movement rules, month by month, account by account."""
    first = min(r[1] for r in rows).replace(day=1)
    months = []
    m = first
    while m <= through:
        months.append(m)
        m = add_months(m, 1)
    out = []
    for account in sorted({r[0] for r in rows}):
        series = [(m, month_mrr(rows, account, m)) for m in months]
        active = [i for i, (_, v) in enumerate(series) if v > 0]
        if not active:
            continue
        prev = Decimal(0)
        for i in range(active[0], min(active[-1] + 1, len(series) - 1) + 1):
            month, mrr = series[i]
            change = mrr - prev
            if i == active[0]:
                kind = "new"
            elif mrr <= 0 < prev:
                kind = "churn"
            elif mrr > 0 >= prev:
                kind = "reactivation"
            elif change > 0:
                kind = "expansion"
            elif change < 0:
                kind = "contraction"
            else:
                kind = None
            out.append((account, month, mrr, prev, change, kind))
            prev = mrr
    return out


def reference_retention(
    rows: list[Row], start: dt.date, end: dt.date
) -> tuple[Decimal, Decimal, Decimal, int]:
    """NRR's parts: the MRR in ``start`` of the accounts paying then, theirs in ``end``, that
    capped at the start's (GRR), and how many accounts."""
    starting = ending = retained = Decimal(0)
    count = 0
    for account in {r[0] for r in rows}:
        s = month_mrr(rows, account, start)
        if s > 0:
            e = month_mrr(rows, account, end)
            starting, ending, retained = starting + s, ending + e, retained + min(s, e)
            count += 1
    return starting, ending, retained, count


def reference_expansions(rows: list[Row], through: dt.date) -> list[tuple[str, dt.date, Decimal]]:
    """Every day an account's MRR rose while it was already paying the day before:
    ``(account, day, rise)``, by day then account."""
    out = []
    for account in sorted({r[0] for r in rows}):
        days = {r[1] for r in rows if r[0] == account} | {
            r[2] for r in rows if r[0] == account and r[2] is not None
        }
        for day in sorted(d for d in days if d <= through):
            before = month_mrr(rows, account, day - dt.timedelta(days=1))
            after = month_mrr(rows, account, day)
            if before > 0 and after > before:
                out.append((account, day, after - before))
    return sorted(out, key=lambda e: (e[1], e[0]))

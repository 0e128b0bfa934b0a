"""Money in the gap: what a source's real expansions would have added had each come sooner.

PRODUCT.md: every month an expansion moves earlier is worth its delta MRR x months. An expansion
cannot move before the account started paying, so each one adds

    delta_mrr x min(N, whole months from the account's first payment to the expansion)

An account paying $500 from 2024-01-01 that expands by $250 on 2025-06-01 (its month 18) and
is moved 15 months earlier (to its month 3) adds 15 x $250 = $3,750; moved 40 months earlier
it can only go back 17 months, to its first payment: 17 x $250.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.errors import UsageError

#: The furthest an expansion may be moved: ten years.
MAX_MONTHS_EARLIER = 120


def check_months_earlier(months_earlier: int) -> None:
    """A UsageError unless ``months_earlier`` is a whole number of months from 1 to 120."""
    if months_earlier < 1:
        raise UsageError(
            f"--months-earlier must be at least 1, got {months_earlier}",
            fix="pass how many months sooner each expansion would have come, e.g. "
            "--months-earlier 3",
        )
    if months_earlier > MAX_MONTHS_EARLIER:
        raise UsageError(
            f"--months-earlier must be at most {MAX_MONTHS_EARLIER} (ten years), "
            f"got {months_earlier}",
            fix=f"pass a number from 1 to {MAX_MONTHS_EARLIER}, e.g. --months-earlier 12",
        )


def whole_months(start: ir.DateValue, end: ir.DateValue) -> ir.IntegerValue:
    """Whole calendar months from ``start`` to ``end`` (a month from Jan 31 is Feb 28/29)."""
    calendar = (end.year() * 12 + end.month()) - (start.year() * 12 + start.month())
    last_day = (end.truncate("M") + ibis.interval(months=1) - ibis.interval(days=1)).day()
    short = end.day() < ibis.least(start.day(), last_day)
    return calendar - short.cast("int64")


@dataclass(frozen=True)
class Gap:
    """The revenue in the gap, in total and per segment."""

    months_earlier: int
    revenue_in_gap: Decimal
    expansions: int
    by_segment: list[dict[str, Any]]  # segment, revenue_in_gap, expansions
    through: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "months_earlier": self.months_earlier,
            "revenue_in_gap": self.revenue_in_gap,
            "expansions": self.expansions,
            "by_segment": self.by_segment,
        }
        if self.through is not None:
            out["through"] = self.through
        return out


def revenue_in_gap(
    events: ir.Table, months_earlier: int, lifetime_end: dt.date | None = None
) -> Gap:
    """The revenue ``events`` would have added had each come ``months_earlier`` months sooner.

    ``events`` are :func:`headroom.metrics.expansion.expansion_events` (they carry each
    account's ``first_paid``, which caps how far an expansion can move). ``lifetime_end`` is
    the last day of the data: expansions after it are not counted. Moving an expansion earlier
    changes nothing after its real date, so the end of the lifetime does not enter the amount.
    """
    check_months_earlier(months_earlier)
    e = events
    if lifetime_end is not None:
        e = e.filter(e.date <= ibis.literal(lifetime_end))
    moved = ibis.least(ibis.greatest(whole_months(e.first_paid, e.date), 0), months_earlier)
    e = e.mutate(extra=e.delta_mrr * moved, segment=e.segment.nullif("").fill_null("(none)"))
    grouped = e.group_by("segment").aggregate(revenue_in_gap=e.extra.sum(), expansions=e.count())
    rows = grouped.order_by("segment").to_pyarrow().to_pylist()
    by_segment = [
        {
            "segment": r["segment"],
            "revenue_in_gap": Decimal(r["revenue_in_gap"] or 0),
            "expansions": int(r["expansions"]),
        }
        for r in rows
    ]
    return Gap(
        months_earlier=months_earlier,
        revenue_in_gap=sum((r["revenue_in_gap"] for r in by_segment), Decimal(0)),
        expansions=sum(r["expansions"] for r in by_segment),
        by_segment=by_segment,
        through=lifetime_end,
    )

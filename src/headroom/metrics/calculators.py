"""The seed's calculators: expansion-timing LTV and the NRR planner. Exact decimal arithmetic.

>>> ltv(Decimal(500), 24, [Expansion(Decimal(250), 3)]).ltv
Decimal('17500')
>>> plan(Decimal(10_000_000), Decimal("0.85"), Decimal("0.40")).new_logo_arr_needed
Decimal('5500000.00')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from headroom.errors import UsageError

_EXPANSION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*@\s*(-?\d+)\s*$")


@dataclass(frozen=True)
class Expansion:
    """``amount`` added to MRR from month ``month`` (counting from 1) inclusive."""

    amount: Decimal
    month: int

    @classmethod
    def parse(cls, text: str) -> Expansion:
        """``250@3`` → Expansion(250, 3)."""
        m = _EXPANSION.match(text)
        if not m:
            raise UsageError(
                f"--expansion {text!r} is not AMOUNT@MONTH", fix="write it e.g. --expansion 250@3"
            )
        return cls(Decimal(m.group(1)), int(m.group(2)))


@dataclass(frozen=True)
class LtvResult:
    ltv: Decimal
    months: int
    mrr: Decimal
    expansions: list[Expansion]
    schedule: list[Decimal]  # MRR of each month, 1..months
    discount_rate: Decimal
    gross_margin: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "ltv": self.ltv,
            "months": self.months,
            "mrr": self.mrr,
            "expansions": [{"amount": e.amount, "month": e.month} for e in self.expansions],
            "discount_rate": self.discount_rate,
            "gross_margin": self.gross_margin,
            "schedule": self.schedule,
            # Moving an expansion one month earlier adds one more month of it (undiscounted).
            "expansion_timing": [
                {"amount": e.amount, "month": e.month, "one_month_earlier_adds": e.amount}
                for e in self.expansions
                if e.month > 1
            ],
        }


def ltv(
    mrr: Decimal,
    months: int,
    expansions: list[Expansion] | None = None,
    *,
    discount_rate: Decimal = Decimal(0),
    gross_margin: Decimal = Decimal(1),
) -> LtvResult:
    """Revenue over a lifetime of ``months`` months, with expansions from their month on.

    Month k's revenue is discounted by ``(1 + discount_rate) ** (k / 12)``: it is received at
    the end of month k and the rate is annual. ``gross_margin`` turns revenue into margin.
    """
    expansions = list(expansions or [])
    if months < 1:
        raise UsageError(
            f"--months {months} is not a lifetime", fix="pass at least 1 month, e.g. --months 24"
        )
    if mrr < 0:
        raise UsageError(f"--mrr {mrr} is negative", fix="pass the monthly revenue, e.g. --mrr 500")
    for e in expansions:
        if e.month < 1:
            raise UsageError(
                f"--expansion {e.amount}@{e.month} has month {e.month}",
                fix="months count from 1 (the first month of the life)",
            )
        if e.month > months:
            raise UsageError(
                f"--expansion {e.amount}@{e.month} starts after the {months}-month life",
                fix=f"use a month from 1 to {months}, or a longer --months",
            )
    if not Decimal(0) <= discount_rate <= Decimal(1):
        raise UsageError(
            f"--discount-rate {discount_rate} is outside 0 to 1",
            fix="pass an annual rate as a share, e.g. --discount-rate 0.10",
        )
    if not Decimal(0) < gross_margin <= Decimal(1):
        raise UsageError(
            f"--gross-margin {gross_margin} is outside 0 (excluded) to 1",
            fix="pass a share, e.g. --gross-margin 0.80",
        )
    schedule = [
        mrr + sum((e.amount for e in expansions if e.month <= k), Decimal(0))
        for k in range(1, months + 1)
    ]
    if discount_rate:
        total = sum(
            (
                Decimal(float(v) / float(1 + discount_rate) ** (k / 12))
                for k, v in enumerate(schedule, 1)
            ),
            Decimal(0),
        ).quantize(Decimal("0.01"))
    else:
        total = sum(schedule, Decimal(0))
    if gross_margin != 1:
        total = (total * gross_margin).quantize(Decimal("0.01"))
    return LtvResult(total, months, mrr, expansions, schedule, discount_rate, gross_margin)


@dataclass(frozen=True)
class PlanRow:
    nrr: Decimal
    retained_arr: Decimal
    new_logo_arr_needed: Decimal


@dataclass(frozen=True)
class PlanResult:
    arr: Decimal
    nrr: Decimal
    growth: Decimal
    target_arr: Decimal
    retained_arr: Decimal
    new_logo_arr_needed: Decimal
    sensitivity: list[PlanRow]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arr": self.arr,
            "nrr": self.nrr,
            "growth": self.growth,
            "target_arr": self.target_arr,
            "retained_arr": self.retained_arr,
            "new_logo_arr_needed": self.new_logo_arr_needed,
            "sensitivity": [
                {
                    "nrr": r.nrr,
                    "retained_arr": r.retained_arr,
                    "new_logo_arr_needed": r.new_logo_arr_needed,
                }
                for r in self.sensitivity
            ],
        }


#: The NRR values of the sensitivity table: 0.80 to 1.30 in steps of 0.05, exactly.
SENSITIVITY = [Decimal(80 + 5 * i) / 100 for i in range(11)]


def plan(arr: Decimal, nrr: Decimal, growth: Decimal) -> PlanResult:
    """How much new-logo ARR a growth target needs at a given NRR, with a sensitivity table."""
    if arr < 0:
        raise UsageError(f"--arr {arr} is negative", fix="pass today's ARR, e.g. --arr 10000000")
    if not Decimal(0) <= nrr <= Decimal(3):
        raise UsageError(
            f"--nrr {nrr} is not a plausible net revenue retention",
            fix="pass it as a share between 0 and 3, e.g. --nrr 1.05 for 105%",
        )
    if growth <= -1:
        raise UsageError(
            f"--growth {growth} would shrink ARR below nothing",
            fix="pass the growth target as a share above -1, e.g. --growth 0.40 for 40%",
        )
    target = (arr * (1 + growth)).quantize(Decimal("0.01"))

    def row(rate: Decimal) -> PlanRow:
        retained = (arr * rate).quantize(Decimal("0.01"))
        return PlanRow(rate, retained, target - retained)

    main = row(nrr)
    return PlanResult(
        arr,
        nrr,
        growth,
        target,
        main.retained_arr,
        main.new_logo_arr_needed,
        [row(r) for r in SENSITIVITY],
    )

"""The seed's calculators: expansion-timing LTV and the NRR planner. Exact decimal arithmetic.

PRODUCT.md, "Why it exists": $500 MRR for 24 months with +$250 from month 3 earns $17,500, from
month 18 $13,750; at $10M ARR, 85% NRR and a 40% growth target, $5.5M must come from new logos.

>>> ltv(Decimal(500), 24, [Expansion(Decimal(250), 3)]).ltv
Decimal('17500')
>>> ltv(Decimal(500), 24, [Expansion(Decimal(250), 18)]).ltv
Decimal('13750')
>>> plan(Decimal(10_000_000), Decimal("0.85"), Decimal("0.40")).new_logo_arr_needed
Decimal('5500000.00')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from headroom.errors import UsageError

_EXPANSION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*@\s*(-?\d+)\s*$")

#: The longest lifetime ``ltv`` accepts: a hundred years of months.
MAX_MONTHS = 1200


@dataclass(frozen=True)
class Expansion:
    """``amount`` added to MRR from month ``month`` (counting from 1) inclusive."""

    amount: Decimal
    month: int

    @classmethod
    def parse(cls, text: str) -> Expansion:
        """``250@3`` → Expansion(250, 3); anything else is a UsageError.

        >>> Expansion.parse("250@3")
        Expansion(amount=Decimal('250'), month=3)
        """
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
    #: Per expansion, what the LTV gains if it starts one month earlier (None in month 1).
    one_month_earlier: list[Decimal | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ltv": self.ltv,
            "months": self.months,
            "mrr": self.mrr,
            "expansions": [{"amount": e.amount, "month": e.month} for e in self.expansions],
            "discount_rate": self.discount_rate,
            "gross_margin": self.gross_margin,
            "schedule": self.schedule,
            # Moving an expansion one month earlier adds one more month of it: exactly its amount
            # undiscounted, less once discounted or taken at a margin; nothing in month 1.
            "expansion_timing": [
                {"amount": e.amount, "month": e.month, "one_month_earlier_adds": gain}
                for e, gain in zip(self.expansions, self.one_month_earlier, strict=True)
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

    An expansion ``A@m`` adds A to the MRR of months m, m + 1, ..., ``months`` (months count
    from 1), so undiscounted the LTV is ``mrr * months + sum(A * (months - m + 1))``.

    Discounting is end-of-month: month k's revenue arrives at the end of month k and is divided
    by ``(1 + discount_rate) ** (k / 12)``, the rate being annual; so even month 1 is discounted
    (by one twelfth of a year). ``gross_margin`` multiplies the result, turning revenue into
    gross profit. Discounted or margined figures are rounded to the cent; undiscounted ones are
    exact.

    >>> ltv(Decimal(297), 24).ltv
    Decimal('7128')
    >>> ltv(Decimal(100), 12, discount_rate=Decimal("0.12")).ltv  # sum of 100 / 1.12 ** (k / 12)
    Decimal('1129.15')
    """
    expansions = list(expansions or [])
    _check_ltv(mrr, months, expansions, discount_rate, gross_margin)
    schedule = _schedule(mrr, months, expansions)
    total = _value(schedule, discount_rate, gross_margin)
    earlier: list[Decimal | None] = []
    for i, e in enumerate(expansions):
        if e.month == 1:
            earlier.append(None)  # already there from the first month
            continue
        moved = [*expansions[:i], Expansion(e.amount, e.month - 1), *expansions[i + 1 :]]
        earlier.append(_value(_schedule(mrr, months, moved), discount_rate, gross_margin) - total)
    return LtvResult(total, months, mrr, expansions, schedule, discount_rate, gross_margin, earlier)


def _check_ltv(
    mrr: Decimal,
    months: int,
    expansions: list[Expansion],
    discount_rate: Decimal,
    gross_margin: Decimal,
) -> None:
    if months < 1:
        raise UsageError(
            f"--months {months} is not a lifetime", fix="pass at least 1 month, e.g. --months 24"
        )
    if months > MAX_MONTHS:
        raise UsageError(
            f"--months {months} is more than {MAX_MONTHS} months (100 years)",
            fix="pass a customer lifetime in months, e.g. --months 24",
        )
    if mrr < 0:
        raise UsageError(f"--mrr {mrr} is negative", fix="pass the monthly revenue, e.g. --mrr 500")
    for e in expansions:
        if e.amount < 0:
            raise UsageError(
                f"--expansion {e.amount}@{e.month} has a negative amount",
                fix="pass the MRR an expansion adds, e.g. --expansion 250@3",
            )
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


def _schedule(mrr: Decimal, months: int, expansions: list[Expansion]) -> list[Decimal]:
    """MRR of months 1..months: the base plus every expansion that has started."""
    step = [Decimal(0)] * (months + 2)
    for e in expansions:
        step[e.month] += e.amount
    out, level = [], mrr
    for k in range(1, months + 1):
        level += step[k]
        out.append(level)
    return out


_CENT = Decimal("0.01")


def _value(schedule: list[Decimal], discount_rate: Decimal, gross_margin: Decimal) -> Decimal:
    """The schedule's total: discounted end-of-month at an annual rate, times the margin."""
    if discount_rate:
        growth = 1 + discount_rate
        total = sum(
            (v / growth ** (Decimal(k) / 12) for k, v in enumerate(schedule, 1)), Decimal(0)
        )
    else:
        total = sum(schedule, Decimal(0))
    if gross_margin != 1:
        total *= gross_margin
    return total.quantize(_CENT) if discount_rate or gross_margin != 1 else total


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
    """How much new-logo ARR a growth target needs at a given NRR, with a sensitivity table.

    ``target_arr = arr * (1 + growth)``; ``retained_arr = arr * nrr`` (what today's customers
    will pay in a year, expansion and churn included); the rest, ``target - retained``, must
    come from new logos (negative when NRR alone beats the target). Money is rounded to the
    cent, and ``target == retained + new_logo`` holds exactly on every row.

    >>> at_100 = plan(Decimal(10_000_000), Decimal("0.85"), Decimal("0.40")).sensitivity[4]
    >>> at_100.nrr, at_100.new_logo_arr_needed
    (Decimal('1'), Decimal('4000000.00'))
    """
    if arr < 0:
        raise UsageError(f"--arr {arr} is negative", fix="pass today's ARR, e.g. --arr 10000000")
    if not Decimal(0) <= nrr <= Decimal(3):
        raise UsageError(
            f"--nrr {nrr} is not a plausible net revenue retention",
            fix="pass it as a share between 0 and 3, e.g. --nrr 1.05 for 105%",
        )
    if growth < -1:
        raise UsageError(
            f"--growth {growth} would shrink ARR below nothing",
            fix="pass the growth target as a share of at least -1, e.g. --growth 0.40 for 40%",
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

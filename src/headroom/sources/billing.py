"""Billing exports read as they are: inclusive end dates, and invoices whose amounts cover a
whole billing period rather than a month.

The contract's subscriptions hold a monthly rate in force from ``start_date`` up to, not
including, ``end_date``. A billing system's export often differs in two ways, each declared in
the source's mapping (``sources/config.py``):

``end: inclusive``
    ``end_date`` is the period's last day (``2024-01-01`` to ``2024-01-31``): the period runs
    to the day after it.
``amounts: per_period``
    each row is an invoice or invoice line whose amount pays for its whole period: an annual
    invoice of 1,188 is MRR 99 for twelve months. A credit note is a negative amount over its
    own period, so it nets against what it refunds; an account's rows in force are summed. A
    row without a period (no ``end_date``, or one ending the day it starts as the file writes
    it) is a one-off charge: it adds no MRR and the report lists it apart.

How a period counts in months (:func:`period_months`): the whole months from its start (the
same day of a later month; the 31st is the last day of a shorter month), then what is left as
a share of the month that began there. A month's invoice (1 Jan to 1 Feb) is one month, a
quarter three, a year twelve, and 1-17 January is 16/31 of a month. Each row's MRR is its
amount divided by its months, rounded to 4 decimals (half away from zero), the precision MRR
is stored with. Everything here is an ibis expression, computed in the engine for all rows.

>>> import datetime as dt
>>> rows = ibis.memtable({"start": [dt.date(2024, 1, 1), dt.date(2024, 1, 1)],
...                       "end": [dt.date(2025, 1, 1), dt.date(2024, 1, 17)],
...                       "amount": [1188, 100]})
>>> spread = monthly_amount(rows.amount, rows.start, rows.end)
>>> [str(v) for v in ibis.duckdb.connect().to_pyarrow(spread).to_pylist()]
['99.0000', '193.7500']
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import ibis
import ibis.expr.types as ir

#: MRR is kept with 4 decimals (``decimal(18, 4)``): amounts are spread in these units.
UNITS = 10_000
#: The largest amount a row may spread, either way: its ten-thousandths times a month's days,
#: doubled, stay within 64-bit integers (validation refuses larger ones).
LARGEST_AMOUNT = 1_000_000_000_000


@dataclass(frozen=True)
class Billing:
    """How a source's subscriptions are written (see the module's text)."""

    inclusive_end: bool = False
    per_period: bool = False


#: The contract's own way: monthly rates, exclusive ends.
CONTRACT = Billing()


def exclusive_end(end: ir.DateValue, billing: Billing) -> ir.DateValue:
    """The first day a period is no longer in force, as the contract counts it."""
    return end + ibis.interval(days=1) if billing.inclusive_end else end


def one_off(start: ir.DateValue, end: ir.DateValue, billing: Billing) -> ir.BooleanValue:
    """True for a per-period row that pays for no period: no end, or ending as it starts."""
    if not billing.per_period:
        return ibis.literal(False)
    return end.isnull() | (end == start)


def _month_index(d: ir.DateValue) -> ir.IntegerValue:
    return d.year().cast("int64") * 12 + d.month().cast("int64") - 1


def _months_after(start: ir.DateValue, n: ir.IntegerValue) -> ir.DateValue:
    """``start`` moved ``n`` months on, its day kept or, past a shorter month's end, the last
    day (as calendars add months, and DuckDB and Spark with them: 31 January + 1 month is 28
    or 29 February)."""
    result: ir.DateValue = (start + n.as_interval("M")).cast("date")
    return result


def period_months(start: ir.DateValue, end: ir.DateValue) -> tuple[ir.IntegerValue, ...]:
    """A period ``start`` up to ``end`` (exclusive) in months, as ``(whole, days, month_days)``:
    whole months, then ``days`` more out of the ``month_days`` of the month that began there."""
    months = _month_index(end) - _month_index(start)
    whole = ibis.ifelse(end.day() < start.day(), months - 1, months)
    anchor = _months_after(start, whole)
    following = _months_after(start, whole + 1)
    days = end.delta(anchor, unit="day").cast("int64")
    month_days = following.delta(anchor, unit="day").cast("int64")
    return whole, days, month_days


def contract_rows(t: ir.Table, billing: Billing) -> ir.Table:
    """Typed subscription rows (``start_date``, ``end_date``, ``mrr``) as the export wrote
    them, in the contract's terms: exclusive ends, monthly rates, one-offs out."""
    if billing == CONTRACT:
        return t
    rows = t.filter(~one_off(t.start_date, t.end_date, billing)) if billing.per_period else t
    end = exclusive_end(rows.end_date, billing)
    mrr = monthly_amount(rows.mrr, rows.start_date, end) if billing.per_period else rows.mrr
    return rows.mutate(end_date=end, mrr=mrr)


def monthly_amount(amount: ir.NumericValue, start: ir.DateValue, end: ir.DateValue) -> ir.Value:
    """``amount`` paid for ``start`` up to ``end`` (exclusive) as a monthly rate, in 4 decimals.

    Integer arithmetic throughout, so that every engine gives the same cents: the amount in
    ten-thousandths, times the days of a month, over the period's length in those days.
    """
    whole, days, month_days = period_months(start, end)
    units = (amount.cast("decimal(38, 4)") * UNITS).cast("int64")
    numerator = units * month_days
    denominator = whole * month_days + days
    # half away from zero: (2|n| + d) // 2d, signed
    magnitude = (numerator.abs() * 2 + denominator) // (denominator * 2)
    rounded = ibis.ifelse(numerator < 0, -magnitude, magnitude)
    unit = ibis.literal(Decimal(1) / UNITS, "decimal(18, 4)")
    return (rounded.cast("decimal(18, 0)") * unit).cast("decimal(18, 4)")

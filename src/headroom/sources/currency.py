"""Subscriptions in several currencies, converted into one when the source is loaded.

A subscription row may name its ``currency`` (an ISO code). One currency throughout needs
nothing more. Several need an ``exchange_rates`` table (``currency``, ``date``, ``rate``: what
one unit is worth in the reporting currency, from that day on) and the reporting currency named
at the top of the source's mapping (``currency: USD``). Each row's MRR is converted at the rate
in force on the day its period starts, so a period keeps one MRR; rows in the reporting currency
(or naming none) are taken as they are. The stored rows are all in the reporting currency,
their ``currency`` column saying which.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def code(column: ir.StringValue) -> ir.StringValue:
    """A currency as written, in the form compared: trimmed, upper case, empty as null."""
    result: ir.StringValue = column.strip().upper().nullif("")
    return result


def currencies(subscriptions: ir.Table) -> list[str]:
    """The currencies the rows name, sorted."""
    if "currency" not in subscriptions.columns:
        return []
    named = code(subscriptions.currency)
    found = subscriptions.select(c=named).filter(ibis._.c.notnull()).distinct().order_by("c")
    return [str(c) for c in found.to_pyarrow().column("c").to_pylist()]


def rate_on_start(
    subscriptions: ir.Table, rates: ir.Table, reporting: str, start: ir.DateValue
) -> ir.Table:
    """``subscriptions`` with ``_rate``: the rate of its currency in force on ``start`` (a
    column of it), 1 in the reporting currency, null where no rate is in force yet."""
    r = rates.select(_cur=code(rates.currency), _from=rates.date, _rate=rates.rate.cast("float64"))
    r = r.mutate(_until=r._from.lead().over(group_by="_cur", order_by="_from"))
    s = subscriptions.mutate(_code=code(subscriptions.currency), _day=start)
    joined = s.left_join(
        r,
        [s._code == r._cur, r._from <= s._day, r._until.isnull() | (s._day < r._until)],
    )
    own = joined._code.isnull() | (joined._code == reporting)
    return joined.mutate(_rate=ibis.ifelse(own, 1.0, joined._rate)).drop(
        "_cur", "_from", "_until", "_code", "_day"
    )


def converted(subscriptions: ir.Table, rates: ir.Table, reporting: str) -> ir.Table:
    """Typed subscriptions with ``mrr`` in ``reporting`` (checked before: every rate found)."""
    rated = rate_on_start(subscriptions, rates, reporting, subscriptions.start_date)
    mrr = (rated.mrr.cast("float64") * rated._rate).cast("decimal(18, 4)")
    return rated.mutate(mrr=mrr, currency=ibis.literal(reporting)).drop("_rate")

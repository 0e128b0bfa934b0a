"""What a checked table becomes when it is stored: contract types, defaults filled, the
export's billing and currencies in the contract's terms, repeated keys combined; and where the
stored data ends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.sources.billing import CONTRACT, Billing, contract_rows
from headroom.sources.cells import parsed
from headroom.sources.config import SourceSpec
from headroom.sources.currency import converted
from headroom.sources.readers import LINE, PART
from headroom.sources.report import Report
from headroom.sources.schema import STORAGE_TYPE, TABLES
from headroom.sources.validate import Validator

#: Bumped whenever loading changes, so that old loaded files are not reused.
LOAD_VERSION = "4"


def typed(table: str, t: ir.Table, billing: Billing = CONTRACT) -> ir.Table:
    """The loaded form of a checked table: contract types, defaults filled, lines dropped.

    Subscriptions written as a billing system writes them (``billing``) are turned into the
    contract's: exclusive ends, monthly rates, one-off charges left out.
    """
    spec = TABLES[table]
    cols: dict[str, ir.Value] = {}
    for col in spec.columns:
        if col.name in t.columns:
            cols[col.name] = parsed(col, t[col.name]).cast(STORAGE_TYPE[col.kind])
        else:
            cols[col.name] = ibis.null(STORAGE_TYPE[col.kind])
    if table == "accounts":
        cols["timezone"] = cols["timezone"].fill_null("UTC")
    rows = t.select(*[c for c in (PART, LINE) if c in t.columns], **cols)
    if table == "subscriptions":
        rows = contract_rows(rows, billing)
        rows = rows.mutate(renews_on=rows.renews_on.fill_null(rows.end_date))
    return rows


def combined(table: str, t: ir.Table, how: str) -> ir.Table:
    """``t`` with rows that repeat a key combined as the mapping says (events: the first kept);
    the file order columns dropped."""
    spec = TABLES[table]
    key = list(spec.key)
    order = [c for c in (PART, LINE) if c in t.columns]
    if table == "usage_daily" and how == "sum":
        return t.group_by(key).aggregate(value=t.value.sum())
    if table == "events" or how == "first":
        first = t.mutate(_n=ibis.row_number().over(group_by=key, order_by=order))
        return first.filter(first._n == 0).drop("_n", *order)
    return t.drop(*order)


#: The dated facts whose latest day is where the data ends: a period begun or ended, a day of
#: usage, an event.
DATED = (
    ("subscriptions", "start_date"),
    ("subscriptions", "end_date"),
    ("usage_daily", "date"),
    ("events", "timestamp"),
)


def record_data_end(con: Any, spec: SourceSpec, report: Report, today: dt.date) -> None:
    """Record in ``report`` the last day the loaded data covers, unless the mapping says
    (``data_through``): its latest date (:data:`DATED`), or ``today`` while a subscription row
    is still running (the export is live). An invoice's period end is coverage paid for ahead,
    not something seen: an invoice source ends at its latest invoice."""
    if spec.config.data_through is not None:
        report.data_through = spec.config.data_through.isoformat()
        report.data_through_from = "data_through"
        return
    subscriptions = con.table("subscriptions")
    if con.to_pyarrow(subscriptions.end_date.isnull().any()).as_py():
        report.data_through, report.data_through_from = today.isoformat(), "rows still running"
        return
    per_period = spec.mapping("subscriptions").billing.per_period
    days = []
    for table, column in DATED:  # one small query each: the engine keeps each column's max
        if per_period and (table, column) == ("subscriptions", "end_date"):
            continue
        value = con.table(table)[column]
        latest = (value.date() if column == "timestamp" else value).max()
        found = con.to_pyarrow(latest).as_py()
        if found is not None:  # a table with no rows has no latest day
            days.append(found)
    report.data_through = max(days).isoformat() if days else None
    report.data_through_from = "latest date" if days else None


def derived_accounts(subscriptions: ir.Table) -> ir.Table:
    """Accounts for a source without an accounts table: one per subscribed account_id."""
    spec = TABLES["accounts"]
    ids = subscriptions.select("account_id").distinct()
    return ids.select(
        *[
            ids.account_id
            if c.name == "account_id"
            else (
                ibis.literal("UTC") if c.name == "timezone" else ibis.null(STORAGE_TYPE[c.kind])
            ).name(c.name)
            for c in spec.columns
        ]
    ).order_by("account_id")


def stored_table(name: str, v: Validator) -> ir.Table:
    """Checked table ``name`` as it is stored: typed, in the contract's billing terms, in one
    currency (the one the checks settled), its repeated keys combined."""
    rows = typed(name, v.tables[name], v.billing)
    if name == "subscriptions" and v.reporting_currency is not None:
        rates = typed("exchange_rates", v.tables["exchange_rates"])
        rows = converted(rows, rates, v.reporting_currency)
    return combined(name, rows, v.combine[name])

"""How a loaded source's tables are laid out in its DuckDB file: the accounts numbered, the
usage keyed by those numbers, the large dated tables in date order. Every run reads the file in
this layout; the loader writes it (:mod:`headroom.sources.load`).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.sources.schema import STORAGE_TYPE, TABLES

#: The column of whole numbers the loader gives the accounts (0 to n - 1, in account_id order),
#: stored in ``accounts`` and in the :data:`KEYED` tables beside ``account_id`` (null where that
#: account is not in ``accounts``). A year of usage is tens of millions of rows: grouped,
#: joined and searched by a whole number instead of its text id, and with no join to find that
#: number, the usage signals of a backtest take a third of the time.
ACCOUNT_KEY = "account_key"


KEYED = ("usage_daily",)


def numbered(accounts: ir.Table) -> ir.Table:
    """``accounts`` with their :data:`ACCOUNT_KEY`."""
    key = ibis.row_number().over(order_by="account_id").cast("int32")
    return accounts.mutate(**{ACCOUNT_KEY: key})


def keyed(t: ir.Table, accounts: ir.Table) -> ir.Table:
    """``t`` with its accounts' :data:`ACCOUNT_KEY` (``accounts`` as :func:`numbered` gives)."""
    keys = accounts.select(_k_account="account_id", **{ACCOUNT_KEY: accounts[ACCOUNT_KEY]})
    j = t.left_join(keys, t.account_id == keys._k_account)
    return j.select(*t.columns, ACCOUNT_KEY)


def laid_out(name: str, t: ir.Table, con: Any) -> ir.Table:
    """Table ``name`` as the loader stores it in ``con`` (accounts numbered, keyed tables with
    their accounts' numbers, the large tables in order); ``accounts`` must be stored first."""
    if name == "accounts":
        t = numbered(t)
    elif name in KEYED:
        t = keyed(t, con.table("accounts"))
    if name in STORED_IN_ORDER:
        t = t.order_by(*STORED_IN_ORDER[name])
    return t


#: The large dated tables are stored in date order (usage: each metric's rows together, in
#: date order). Every run reads the last weeks of them, and signals read a few metrics of the
#: usage; in this order the engine skips the blocks of other rows by their min/max (a 365-day
#: usage table is read in 1/16th of the time), and in any other order it reads them all.
STORED_IN_ORDER = {"usage_daily": ("metric", "date"), "events": ("timestamp",)}


def empty_table(table: str) -> ir.Table:
    spec = TABLES[table]
    schema = ibis.schema({c.name: STORAGE_TYPE[c.kind] for c in spec.columns})
    return ibis.memtable([], schema=schema)

"""One account's rows at a time, in an in-memory engine of their own.

An account's page computes its signals for one account. Finding that account's rows among all
accounts' on every query costs seconds at 100,000 accounts; copying them once into a small
engine of their own and computing there costs milliseconds. A :class:`Narrow` keeps that small
engine alive and :meth:`~Narrow.fill` replaces its rows with another account's, so that queries
compiled against it once stay valid for every account (compiling the signals' queries costs more
than running them on a few thousand rows).

Nothing computed on a narrow source is kept by the engine (:meth:`Source.cache` hands the
expression back): a kept table would hold the previous account's rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from headroom.sources.schema import TABLES
from headroom.sources.source import ACCOUNT_KEY, KEYED, Source

#: The name rows copied in are read by.
ROWS = "headroom_rows"


class _Refilled(Source):
    """A source whose tables are refilled for each account: nothing is materialised."""

    def cache(self, table: ir.Table) -> ir.Table:
        return table


class Narrow:
    """A small engine holding one account's rows of ``tables`` of ``source`` (the plan tables
    whole; the tables not named are there, empty).

    >>> narrow = Narrow(src, ["accounts", "usage_daily", "plans"])  # doctest: +SKIP
    >>> narrow.fill("acc_000042")  # doctest: +SKIP
    True
    >>> narrow.source.table("usage_daily").count().execute()  # doctest: +SKIP
    1365
    """

    def __init__(self, source: Source, tables: Collection[str] | None = None) -> None:
        self.big = source
        self.con: Any = ibis.duckdb.connect()
        self.con.raw_sql("set timezone = 'UTC'")
        # Reading the big engine by plain SQL with a parameter skips compiling an ibis
        # expression per table per account; a connection of its own is safe beside other
        # threads.
        self._own = source.own()
        self._big_raw: Any = self._own.con.con if self._own is not None else None
        self.per_account: list[str] = []
        self._prepared: dict[str, str] = {}
        self._columns: dict[str, list[str]] = {}
        # A cursor sees the database's tables, not the connection's temporary ones.
        self._visible: set[str] = set()
        if self._big_raw is not None:
            listed = (
                "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()"
            )
            self._visible = {r[0] for r in self._big_raw.sql(listed).fetchall()}
        try:
            for name in TABLES:
                if self._raw(name):
                    # Through the cursor too: the source's own connection may be busy with
                    # another thread's query, and DuckDB refuses a second one meanwhile.
                    empty = self._read(name, None, None, None, limit=0)
                    self._with_rows(empty, f'CREATE TABLE "{name}" AS SELECT * FROM {ROWS}')
                    columns = empty.column_names
                else:
                    t = source.table(name)
                    self.con.create_table(name, schema=t.schema())
                    columns = list(t.columns)
                self._columns[name] = columns
                if tables is not None and name not in tables:
                    continue
                if "account_id" in columns:
                    self.per_account.append(name)
                else:
                    self._put(name, self._read(name, None, None, None))
        except BaseException:
            self.close()
            raise
        self.source: Source = _Refilled(source.name, source.path, source.report, self.con)

    def fill(self, account_id: str, since: Mapping[str, dt.date] | None = None) -> bool:
        """Replace the rows with ``account_id``'s (of a table named in ``since``, only those
        dated, by their ``date`` column, on or after its day); whether the accounts table has
        the account."""
        since = since or {}
        key = None
        found = False
        # accounts first: its row gives the number the keyed tables are found by
        for name in sorted(self.per_account, key=lambda n: n != "accounts"):
            rows: pa.Table | None = None
            if name in KEYED and ACCOUNT_KEY in self._columns[name]:
                if key is not None:
                    rows = self._read(name, ACCOUNT_KEY, key, since.get(name))
            else:
                rows = self._read(name, "account_id", account_id, since.get(name))
            if name == "accounts":
                found = rows is not None and rows.num_rows > 0
                if found and rows is not None and ACCOUNT_KEY in rows.column_names:
                    key = rows.column(ACCOUNT_KEY)[0].as_py()
            self._put(name, rows)
        return found

    def _raw(self, name: str) -> bool:
        """Whether ``name`` is read by plain SQL (a DuckDB table without added rows)."""
        return self._big_raw is not None and name in self._visible and name not in self.big.added

    def _read(
        self,
        name: str,
        column: str | None,
        value: object,
        since: dt.date | None,
        limit: int | None = None,
    ) -> pa.Table:
        """The rows of ``name`` whose ``column`` is ``value`` (all: None) from ``since``."""
        if self._raw(name):
            sql, params = f'SELECT * FROM "{name}"', []
            if column is not None:
                sql += f' WHERE "{column}" = ?'
                params.append(value)
            if since is not None:
                sql += (" AND" if params else " WHERE") + ' "date" >= ?'
                params.append(since)
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            return self._big_raw.sql(sql, params=params).to_arrow_table()
        t = self.big.table(name)
        if column is not None:
            t = t.filter(t[column] == value)
        if since is not None:
            t = t.filter(t.date >= since)
        return (t if limit is None else t.limit(limit)).to_pyarrow()

    def _put(self, name: str, rows: pa.Table | None) -> None:
        self.con.con.execute(f'DELETE FROM "{name}"')
        if rows is not None and rows.num_rows:
            self._with_rows(rows, f'INSERT INTO "{name}" SELECT * FROM {ROWS}')

    def _with_rows(self, rows: pa.Table, sql: str) -> None:
        """Run ``sql`` reading ``rows`` as the table :data:`ROWS`."""
        raw = self.con.con
        # One chunk: an account's usage comes out of the big table in a chunk per block it
        # was found in (140 chunks for 192 rows), and DuckDB inserts those six times slower.
        raw.register(ROWS, rows.combine_chunks())
        try:
            raw.execute(sql)
        finally:
            raw.unregister(ROWS)

    def run(self, sql: str) -> list[dict[str, Any]]:
        """The rows of a query compiled against :attr:`source`, as dicts. The query is
        prepared the first time and executed as prepared after: planning a signal query costs
        more than running it on one account's rows, and refilling the tables keeps the plan
        valid."""
        raw = self.con.con
        name = self._prepared.get(sql)
        if name is None:
            name = f"headroom_q{len(self._prepared)}"
            raw.execute(f"PREPARE {name} AS {sql}")
            self._prepared[sql] = name
        result: list[dict[str, Any]] = raw.sql(f"EXECUTE {name}").to_arrow_table().to_pylist()
        return result

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
        self.con.disconnect()

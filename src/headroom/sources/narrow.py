"""One account's rows at a time (or a few accounts'), in an in-memory engine of their own.

An account's page computes its signals for one account. Finding that account's rows among all
accounts' on every query costs seconds at 100,000 accounts; copying them once into a small
engine of their own and computing there costs milliseconds. A :class:`Narrow` keeps that small
engine alive and :meth:`~Narrow.fill` replaces its rows with another account's, so that queries
compiled against it once stay valid for every account (compiling the signals' queries costs more
than running them on a few thousand rows). It can hold a few accounts' rows at once
(:meth:`~Narrow.fill_many`): the signals compute per account, and finding several accounts'
usage costs one scan, as finding one does.

Nothing computed on a narrow source is kept by the engine (:meth:`Source.cache` hands the
expression back): a kept table would hold the previous account's rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from headroom.sources.layout import ACCOUNT_KEY, KEYED
from headroom.sources.schema import TABLES
from headroom.sources.source import Source

#: The name rows copied in are read by.
ROWS = "headroom_rows"
#: DuckDB's memory limit for one narrow engine.
MEMORY = "256MB"


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
        # An engine of its own, beside the source's (whose limit does not cover it): a few
        # accounts' rows and the queries on them take a few MB.
        self.con.raw_sql(f"set memory_limit = '{MEMORY}'")
        # Reading the big engine by plain SQL with a parameter skips compiling an ibis
        # expression per table per account; a connection of its own is safe beside other
        # threads.
        self._own = source.own()
        self._big_raw: Any = self._own.con.con if self._own is not None else None
        self.per_account: list[str] = []
        #: Other ways to find a keyed table's rows (by account keys, from a day): each may
        #: answer None, and the table is read as it is.
        self.readers: dict[str, Callable[[list[int], dt.date | None], pa.Table | None]] = {}
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
                if self._big_raw is not None and name in self._visible:
                    # Through the cursor too: the source's own connection may be busy with
                    # another thread's query, and DuckDB refuses a second one meanwhile (rows
                    # added to a stored table have its columns).
                    empty = self._big_raw.sql(f'SELECT * FROM "{name}" LIMIT 0').to_arrow_table()
                    self._with_rows(empty, f'CREATE TABLE "{name}" AS SELECT * FROM {ROWS}')
                    columns = empty.column_names
                else:
                    # not stored (a temporary table of the source's connection): only that
                    # connection sees it
                    t = source.table(name)
                    self.con.create_table(name, schema=t.schema())
                    columns = list(t.columns)
                self._columns[name] = columns
                if tables is not None and name not in tables:
                    continue
                if "account_id" in columns:
                    self.per_account.append(name)
                else:
                    self._put(name, self._read(name, None, [], None))
        except BaseException:
            self.close()
            raise
        self.source: Source = _Refilled(source.name, source.path, source.report, self.con)

    def fill(self, account_id: str, since: Mapping[str, dt.date] | None = None) -> bool:
        """Replace the rows with ``account_id``'s (of a table named in ``since``, only those
        dated, by their ``date`` column, on or after its day); whether the accounts table has
        the account."""
        return bool(self.fill_many([account_id], since))

    def fill_many(
        self, account_ids: Collection[str], since: Mapping[str, dt.date] | None = None
    ) -> set[str]:
        """Replace the rows with those of several accounts, as :meth:`fill` (queries on the
        engine compute for each of them, by account); the accounts the accounts table has.

        Reading the large keyed tables costs a scan of their recent rows however few accounts
        are read (an account's usage is spread over them): reading several accounts at once
        costs little more than reading one."""
        since = since or {}
        ids = sorted(set(account_ids))
        keys: list[int] = []
        found: set[str] = set()
        # accounts first: its rows give the numbers the keyed tables are found by
        for name in sorted(self.per_account, key=lambda n: n != "accounts"):
            rows: pa.Table | None = None
            if name in KEYED and ACCOUNT_KEY in self._columns[name]:
                if keys:
                    reader = self.readers.get(name)
                    rows = None if reader is None else reader(keys, since.get(name))
                    if rows is None:
                        rows = self._read(name, ACCOUNT_KEY, keys, since.get(name))
            else:
                rows = self._read(name, "account_id", ids, since.get(name))
            if name == "accounts" and rows is not None:
                found = set(rows.column("account_id").to_pylist())
                if ACCOUNT_KEY in rows.column_names:
                    keys = [k for k in rows.column(ACCOUNT_KEY).to_pylist() if k is not None]
            self._put(name, rows)
        return found

    def _raw(self, name: str) -> bool:
        """Whether ``name`` is read by plain SQL (a DuckDB table without added rows)."""
        return self._big_raw is not None and name in self._visible and name not in self.big.added

    def _read(
        self, name: str, column: str | None, values: list[Any], since: dt.date | None
    ) -> pa.Table:
        """The rows of ``name`` whose ``column`` is one of ``values`` (all: None) from
        ``since``."""
        if self._raw(name):
            sql, params = f'SELECT * FROM "{name}"', list[object]()
            if column is not None:
                # = ANY(list) finds a few values as fast as one (an IN list of parameters is
                # ten times slower)
                sql += f' WHERE "{column}" = ANY(?)'
                params.append(values)
            if since is not None:
                sql += (" AND" if params else " WHERE") + ' "date" >= ?'
                params.append(since)
            rows: pa.Table = self._big_raw.sql(sql, params=params).to_arrow_table()
            return rows
        t = self.big.table(name)
        if column is not None:
            t = t.filter(t[column].isin(values))
        if since is not None:
            t = t.filter(t.date >= since)
        return t.to_pyarrow()

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
        name = self.prepare(sql)
        rows = self.con.con.sql(f"EXECUTE {name}").to_arrow_table()
        result: list[dict[str, Any]] = rows.to_pylist()
        return result

    def prepare(self, sql: str) -> str:
        """Prepare a query compiled against :attr:`source` (once); its prepared name."""
        name = self._prepared.get(sql)
        if name is None:
            name = f"headroom_q{len(self._prepared)}"
            self.con.con.execute(f"PREPARE {name} AS {sql}")
            self._prepared[sql] = name
        return name

    def own_tables(self) -> set[str]:
        """The tables made on this engine beside the source's: those expressions built on
        :attr:`source` made (the signals' day spines and constants), which queries compiled
        from them read."""
        listed = self.con.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        return {r[0] for r in listed} - set(self._columns)

    def rows(self, name: str) -> pa.Table:
        """The rows of one of this engine's tables."""
        rows: pa.Table = self.con.con.sql(f'SELECT * FROM "{name}"').to_arrow_table()
        return rows

    def keep(self, name: str, rows: pa.Table) -> None:
        """``rows`` as table ``name`` of this engine (replacing one of that name): one of
        another engine's :meth:`own_tables`, so that queries compiled there run here."""
        self._with_rows(rows, f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM {ROWS}')

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
        self.con.disconnect()

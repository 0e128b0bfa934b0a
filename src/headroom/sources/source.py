"""A loaded source: typed ibis tables on the engine, and what computations read of them.

:func:`headroom.sources.load.load` makes one from files or a database; :func:`empty_source`
makes one with no rows, to see what a computation reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from headroom.errors import SourceError
from headroom.sources.layout import empty_table, laid_out
from headroom.sources.report import Report, TableInfo
from headroom.sources.schema import TABLES


@dataclass
class Source:
    """A loaded source: its typed tables (every contract table, empty where absent)."""

    name: str
    path: Path
    report: Report
    con: Any  # the ibis backend holding the tables
    #: Tables read with rows added beside the source's own (see :meth:`add_rows`).
    added: dict[str, ir.Table] = field(default_factory=dict)
    #: The first day of each dated table that the computations on this source have read
    #: (None: every row), as they said through :meth:`note_read`.
    reads: dict[str, dt.date | None] = field(default_factory=dict)
    #: Per metric: the ceiling forecasts' error percentiles computed on another source holding
    #: every account (see :mod:`headroom.signals.calibration`), for an engine holding a few.
    calibrations: dict[str, ir.Table] = field(default_factory=dict)

    @property
    def window(self) -> dict[str, dt.date]:
        """The dated tables holding only the rows from a day on (a database source read for
        a run), and that day."""
        return {
            name: dt.date.fromisoformat(info.since)
            for name, info in self.report.tables.items()
            if info.since is not None
        }

    def note_read(self, name: str, since: dt.date | None) -> None:
        """Say that a computation reads table ``name`` from ``since`` on (None: every row).

        Kept in :attr:`reads`, which tells what a command needs (its computation run on no
        rows, see :func:`headroom.plays.deciding.reads_of`). Reading before the day a table was
        read from is refused: its earlier rows are not here, and a result computed without
        them would be wrong without a sign.
        """
        if name not in self.reads:
            self.reads[name] = since
        elif (before := self.reads[name]) is not None:
            self.reads[name] = None if since is None else min(before, since)
        first = self.window.get(name)
        if first is not None and (since is None or since < first):
            wanted = "every row" if since is None else f"rows from {since}"
            raise SourceError(
                f"{self.name}: table {name} was read from the database from {first} on, "
                f"but this computation needs {wanted}",
                fix="this is a bug in the reads a signal declares; please report it, and "
                "meanwhile validate the source with headroom validate and run from a folder "
                "export of it",
            )

    def table(self, name: str) -> ir.Table:
        """A contract table as an ibis expression (empty when the source lacks it)."""
        if name in self.added:
            return self.added[name]
        return self.con.table(name)

    def add_rows(self, name: str, rows: pa.Table) -> None:
        """Read ``rows`` as part of table ``name`` from now on (the events the ingest API
        accepted, beside the source's own). Columns ``rows`` lacks are null."""
        base = self.con.table(name)
        if rows.num_rows == 0:
            self.added.pop(name, None)
            return
        extra = self.con.create_table(f"headroom_added_{name}", rows, temp=True, overwrite=True)
        schema = base.schema()
        cols = {
            c: (extra[c] if c in extra.columns else ibis.null()).cast(schema[c])
            for c in base.columns
        }
        self.added[name] = base.union(extra.select(**cols))

    def has(self, name: str) -> bool:
        """Whether the source gave this table (absent tables load empty)."""
        return name in self.report.tables

    def small_table(self, name: str, rows: ir.Table) -> ir.Table:
        """In-memory ``rows`` as a temporary table of the engine (its planner sees its size)."""
        return self.con.create_table(name, rows, temp=True, overwrite=True)

    def cache(self, table: ir.Table) -> ir.Table:
        """``table`` computed once and kept by the engine until ``.release()``."""
        return table.cache()

    def close(self) -> None:
        self.con.disconnect()

    def own(self) -> Source | None:
        """This source on a DuckDB connection of its own (None on another engine), for work
        beside other threads: a DuckDB connection refuses a second query while one runs, and
        the web app serves pages from a thread pool. It is a cursor of the same database, tuned
        alike; it sees the stored tables, not this connection's temporary ones (nor the rows
        :meth:`add_rows` added). Close it after use.
        """
        if getattr(self.con, "name", None) != "duckdb":
            return None
        from headroom.sources.engines import tune  # engines imports this module

        own = ibis.duckdb.from_connection(self.con.con.cursor())
        tune(own)
        return Source(self.name, self.path, self.report, own)


def empty_source() -> Source:
    """A source with every contract table and no rows, in memory: a computation run on it
    tells what it reads (:attr:`Source.reads`) in a moment, whatever the real source's size.

    >>> src = empty_source()
    >>> src.table("usage_daily").count().execute()
    0
    >>> src.close()
    """
    con = ibis.duckdb.connect()
    con.raw_sql("set timezone = 'UTC'")
    report = Report("empty")
    for name in sorted(TABLES, key=lambda n: n != "accounts"):  # keyed tables need accounts
        con.create_table(name, laid_out(name, empty_table(name), con))
        report.tables[name] = TableInfo(name, name)  # every table given: every signal computes
    return Source("empty", Path(), report, con)

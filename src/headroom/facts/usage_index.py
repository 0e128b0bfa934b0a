"""Recent usage by account, for account pages: a copy of a loaded source's recent usage rows
ordered by account, in a file beside the loaded one.

The loaded source stores usage ordered by metric and date, as the runs read it (a day's rows
for every account). A page reads one account's rows: in that order they are spread over every
block of the days it charts, and finding them scans tens of millions of rows, which on two
cores queues pages behind one another. Ordered by account, an account's rows lie in a block or
two that the engine's zone maps find at once.

The copy is made once per loaded file (a new load is a new file, and the old one's copies go
with it), when a server warms its pages, and only for a source whose usage is large enough to
be worth it. Until it is made, pages read the loaded file as before.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from headroom.sources import Source
from headroom.sources.limits import duckdb_mb, spill_folder
from headroom.sources.readers import literal

#: Sources with fewer usage rows are read as they are (a scan of them takes milliseconds).
MIN_ROWS = 5_000_000
#: Days before the first day asked for that the copy keeps too: pages of later as-of days (a
#: server that runs for weeks) read the same copy.
MARGIN_DAYS = 60
_NAME = re.compile(r"\.pages-(\d{4}-\d{2}-\d{2})$")


class UsageIndex:
    """Recent usage rows ordered by account, from ``since`` on, read by account keys."""

    def __init__(self, path: Path, since: dt.date) -> None:
        self.path = path
        self.since = since
        # A few accounts' rows at a time: a small share, not DuckDB's default of most of RAM.
        self._con: Any = duckdb.connect(str(path), read_only=True, config={"memory_limit": "256MB"})
        self._lock = threading.Lock()

    def read(self, keys: list[int], since: dt.date | None) -> pa.Table | None:
        """The rows of the accounts numbered ``keys`` from ``since`` on; None when the copy does
        not reach back that far."""
        if since is None or since < self.since:
            return None
        with self._lock:  # a cursor per read, made one at a time
            cursor = self._con.cursor()
        try:
            rows: pa.Table = cursor.sql(
                'SELECT * FROM usage_daily WHERE account_key = ANY(?) AND "date" >= ?',
                params=[keys, since],
            ).to_arrow_table()
            return rows
        finally:
            cursor.close()

    def close(self) -> None:
        self._con.close()


def usage_index(source: Source, since: dt.date) -> UsageIndex | None:
    """The copy of ``source``'s usage from ``since`` on, ordered by account: found beside the
    loaded file, or made now (which takes a scan and a sort of those rows); None for a source
    not loaded into a DuckDB file, or too small to need one."""
    path = source.path
    if getattr(source.con, "name", None) != "duckdb" or path.suffix != ".duckdb":
        return None
    for made in sorted(path.parent.glob(f"{path.stem}.pages-*.duckdb")):
        found = _NAME.search(made.stem)
        if found and dt.date.fromisoformat(found.group(1)) <= since:
            return UsageIndex(made, dt.date.fromisoformat(found.group(1)))
    own = source.own()
    if own is None:
        return None
    try:
        ((rows,),) = own.con.con.sql("SELECT count(*) FROM usage_daily").fetchall()
    finally:
        own.close()
    if rows < MIN_ROWS:
        return None
    start = since - dt.timedelta(days=MARGIN_DAYS)
    target = path.with_name(f"{path.stem}.pages-{start.isoformat()}.duckdb")
    # made aside and moved in place whole: a server reading it never sees half of it
    aside = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
    try:
        # An engine of its own (the source's is read-only), with half the source engine's
        # share of memory: both live in the server's process.
        con = duckdb.connect(str(aside))
        try:
            folder = spill_folder()
            con.execute(f"SET memory_limit = '{max(duckdb_mb() // 2, 32)}MiB'")
            con.execute(f"SET temp_directory = {literal(str(folder))}")
            con.execute("SET enable_progress_bar = false")
            con.execute(f"ATTACH {literal(str(path))} AS loaded (READ_ONLY)")
            con.execute(
                "CREATE TABLE usage_daily AS SELECT * FROM loaded.usage_daily "
                'WHERE "date" >= ? ORDER BY account_key, "date"',
                [start],
            )
        finally:
            con.close()
        aside.replace(target)
    finally:
        aside.unlink(missing_ok=True)
        Path(f"{aside}.wal").unlink(missing_ok=True)
    return UsageIndex(target, start)

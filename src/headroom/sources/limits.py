"""How much memory DuckDB may take, and where it spills beyond that.

``HEADROOM_MEMORY_LIMIT`` (default 4GB) is what a whole headroom process may take. DuckDB gets
a share of it: its limit covers the memory its buffer manager hands out (sorts, joins, hash
tables), not Python, Arrow batches in flight or the libraries themselves. Beyond its share it
writes to ``<workspace>/tmp``, so a source larger than memory is loaded and run, more slowly,
instead of killing the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headroom.config import settings

#: DuckDB's share of the process's limit: the rest is the interpreter, its libraries and
#: the batches on their way in (measured: see benchmarks/bench_load.py).
DUCKDB_SHARE = 0.6


def duckdb_memory_bytes() -> int:
    """The memory limit to give DuckDB, in bytes."""
    return int(settings().memory_bytes * DUCKDB_SHARE)


def spill_folder(workspace: Path | None = None) -> Path:
    """Where DuckDB spills what does not fit (created when needed)."""
    folder = (workspace or settings().workspace) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def limit(con: Any, workspace: Path | None = None) -> None:
    """Keep an ibis DuckDB connection (or a cursor) within the limit, spilling to the workspace.

    A cursor of a connection shares its database instance and so its limit; setting it again
    is harmless.
    """
    folder = spill_folder(workspace).resolve()
    mb = max(duckdb_memory_bytes() // 2**20, 64)
    con.raw_sql(f"SET memory_limit = '{mb}MB'")
    con.raw_sql(f"SET temp_directory = '{_quoted(str(folder))}'")


def _quoted(text: str) -> str:
    return text.replace("'", "''")

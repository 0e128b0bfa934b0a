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
from headroom.errors import MemoryLimitError

#: DuckDB's share of the process's limit: the rest is the interpreter, its libraries and
#: the batches on their way in (measured: see benchmarks/bench_load.py).
DUCKDB_SHARE = 0.5


def duckdb_memory_bytes() -> int:
    """The memory limit to give DuckDB, in bytes."""
    return int(settings().memory_bytes * DUCKDB_SHARE)


def duckdb_mb() -> int:
    """DuckDB's limit in MB, as set: at least 32, below which DuckDB cannot work at all."""
    return max(duckdb_memory_bytes() // 2**20, 32)


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
    con.raw_sql(f"SET memory_limit = '{duckdb_mb()}MiB'")
    con.raw_sql(f"SET temp_directory = '{_quoted(str(folder))}'")
    con.raw_sql("SET enable_progress_bar = false")  # progress is the adapter's to draw


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is DuckDB running out of the memory it may use (it says so by type, or,
    when a commit could not hold a block in memory, in a transaction error's text)."""
    if type(exc).__name__ == "OutOfMemoryException":
        return True
    text = str(exc)
    return type(exc).__module__.startswith(("duckdb", "_duckdb")) and (
        "failed to pin block" in text or "Out of Memory Error" in text
    )


def out_of_memory() -> MemoryLimitError:
    """The error a person gets when DuckDB ran out of its share and could not spill more."""
    mb = duckdb_mb()
    return MemoryLimitError(
        f"the work needed more memory than HEADROOM_MEMORY_LIMIT={settings().memory_limit} "
        f"allows (DuckDB's share is {mb:,} MB, and it could not spill more to disk)",
        fix="raise HEADROOM_MEMORY_LIMIT (e.g. HEADROOM_MEMORY_LIMIT=8GB), and keep free disk "
        "space in the workspace for what is spilled",
    )

"""Engines: where the loaded tables of a source are computed on.

A source is validated and loaded once, into an embedded DuckDB file. An engine presents those
tables as ibis tables on its own backend: ``duckdb`` opens the file itself (no copy), ``spark``
exports the tables to Parquet beside it and reads them into a local Spark session. Everything
downstream (facts, signals, triggers, metrics) is ibis expressions over :class:`Source` tables
and never learns which engine runs it.

Built-in engines register through :func:`register_engine`, the same call a user's own engine
(a warehouse, say) would make.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.errors import UsageError
from headroom.sources.limits import limit
from headroom.sources.schema import TABLES
from headroom.sources.source import Source

#: An engine: given the loaded DuckDB file, an ibis backend holding every contract table.
Attach = Callable[[Path], Any]


@dataclass(frozen=True)
class Engine:
    """A named way to compute on a loaded source."""

    name: str
    attach: Attach
    help: str


_ENGINES: dict[str, Engine] = {}


def register_engine(name: str, attach: Attach, help: str = "") -> None:
    """Make ``--engine NAME`` available.

    ``attach(path)`` receives the loaded DuckDB file of a source and returns an ibis backend on
    which ``backend.table(name)`` gives each contract table.
    """
    _ENGINES[name] = Engine(name, attach, help)


def engine_names() -> list[str]:
    return sorted(_ENGINES)


def get_engine(name: str) -> Engine:
    """The registered engine called ``name``, or a UsageError listing the known ones."""
    try:
        return _ENGINES[name]
    except KeyError:
        known = ", ".join(engine_names())
        raise UsageError(
            f"--engine {name!r} is not an engine headroom knows", fix=f"use one of {known}"
        ) from None


def _attach_duckdb(path: Path) -> Any:
    return duckdb_connection(path)


def duckdb_connection(path: Path) -> Any:
    """A read-only ibis DuckDB connection to a loaded source, tuned for signal queries.

    Signals join usage to a spine of a few days by range (``date <= day and date >=
    window_start``). DuckDB loops over a right side of up to 5 rows and otherwise sorts both
    sides for a merge join; for a spine of 15 days the loop is 5x faster (0.4 s against 2.3 s on
    100,000 accounts), so small sides up to 1,000 rows are looped over.
    """
    con = ibis.duckdb.connect(path, read_only=True)
    tune(con)
    return con


def tune(con: Any) -> None:
    """Set what :func:`duckdb_connection` tunes on an ibis DuckDB connection (a cursor of a
    connection does not inherit its settings)."""
    con.raw_sql("set nested_loop_join_threshold = 1000")
    limit(con)


_spark_lock = threading.Lock()
_spark_session: Any = None


def spark_session() -> Any:
    """The process's Spark session (started on first use; it takes a few seconds).

    A local session by default (``HEADROOM_SPARK_MASTER``, ``local[2]``; driver memory
    ``HEADROOM_SPARK_MEMORY``, 2g); with ``HEADROOM_SPARK_REMOTE`` a Spark Connect session to
    that server (``sc://host:15002``; ``local`` starts one on this machine). UTC session time,
    so that timestamps read back as they were stored; few shuffle partitions to start from
    (``HEADROOM_SPARK_PARTITIONS``, 4), because a local session on small data spends its time
    scheduling otherwise.
    """
    global _spark_session
    with _spark_lock:
        if _spark_session is None:
            if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
                raise UsageError(
                    "--engine spark needs Java, and none was found",
                    fix="install Java 17 (e.g. the openjdk-17-jre-headless package) or set "
                    "JAVA_HOME",
                )
            try:
                from pyspark.sql import SparkSession
            except ImportError:
                raise UsageError(
                    "--engine spark needs PySpark, which is not installed",
                    fix="install headroom with its spark extra: pip install 'headroom[spark]'",
                ) from None
            remote = os.environ.get("HEADROOM_SPARK_REMOTE")
            _spark_session = _remote_session(remote) if remote else _local_session(SparkSession)
        return _spark_session


def _runtime() -> dict[str, str]:
    """Settings a session may change at run time (also over Spark Connect)."""
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": os.environ.get("HEADROOM_SPARK_PARTITIONS", "4"),
    }


def _local_session(session: Any) -> Any:
    builder = session.builder.master(os.environ.get("HEADROOM_SPARK_MASTER", "local[2]"))
    for key, value in _runtime().items():
        builder = builder.config(key, value)
    local = (
        builder.appName("headroom")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("HEADROOM_SPARK_MEMORY", "2g"))
        .getOrCreate()
    )
    local.sparkContext.setLogLevel("ERROR")
    return local


def _remote_session(url: str) -> Any:
    """A Spark Connect session to ``url`` (PySpark's connect extra: grpcio and the rest)."""
    try:
        from pyspark.sql.connect.utils import check_dependencies

        check_dependencies("pyspark.sql.connect.session")
    except ImportError as exc:
        raise UsageError(
            f"HEADROOM_SPARK_REMOTE needs PySpark's Spark Connect client ({exc})",
            fix="install it beside headroom's spark extra: pip install 'pyspark[connect]'",
        ) from None
    from pyspark.sql import SparkSession  # its builder starts a local server for "local"

    builder = SparkSession.builder.remote(url)
    if url == "local" or url.startswith("local["):
        # PySpark starts the server in this process, on a session of these settings.
        builder = builder.config("spark.ui.enabled", "false").config(
            "spark.driver.memory", os.environ.get("HEADROOM_SPARK_MEMORY", "2g")
        )
    session = builder.getOrCreate()
    for key, value in _runtime().items():
        session.conf.set(key, value)
    return session


def _attach_spark(path: Path) -> Any:
    # Parquet beside the DuckDB file, written once per loaded file (its name carries its key).
    folder = path.with_suffix(".parquet")
    if not folder.exists():
        building = folder.with_name(f".{folder.name}.{os.getpid()}.building")
        building.mkdir(parents=True, exist_ok=True)
        con = duckdb_connection(path)  # within the memory limit: a large table streams out
        try:
            for name in TABLES:
                con.to_parquet(con.table(name), building / f"{name}.parquet")
        finally:
            con.disconnect()
        try:
            building.rename(folder)
        except OSError:  # another process finished first: use theirs
            shutil.rmtree(building, ignore_errors=True)
    session = spark_session()
    backend = ibis.pyspark.connect(session)
    for name in TABLES:
        frame = session.read.parquet(str(folder / f"{name}.parquet"))
        frame.createOrReplaceTempView(name)
    return backend


register_engine("duckdb", _attach_duckdb, "embedded DuckDB (the default)")
register_engine("spark", _attach_spark, "a local Spark session (needs Java 17 and pyspark)")


class _SharedSessionSource(Source):
    """A source on a shared session: closing it must not stop the session for everyone."""

    def small_table(self, name: str, rows: ir.Table) -> ir.Table:
        return self.con.create_view(name, rows, overwrite=True)  # a session-local temp view

    def cache(self, table: ir.Table) -> ir.Table:
        # ibis's PySpark cache compiles the query without first registering the in-memory
        # tables it reads (the day spine), as its create_view does: register them here.
        self.con._register_in_memory_tables(table)
        return table.cache()

    def close(self) -> None:
        pass


def on_engine(source: Source, engine: str) -> Source:
    """The same loaded source, computed on ``engine``.

    >>> src = on_engine(load(Path("data")), "spark")  # doctest: +SKIP
    >>> src.table("subscriptions").count().execute()  # doctest: +SKIP
    """
    chosen = get_engine(engine)
    if chosen.name == "duckdb":
        return source
    con = chosen.attach(source.path)
    cls = _SharedSessionSource if chosen.name == "spark" else Source
    return cls(source.name, source.path, source.report, con)

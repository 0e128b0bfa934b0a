"""Staging typed tables: Parquet files copied by the engine, database tables streamed in batches.

A typed column whose type already fits its kind stays typed (a date32 date, a float value):
turning 100 million numbers into text only to parse them back would cost more than the load.
Every other column is staged as the text a CSV file would hold, and checked as text. The
checks (:mod:`headroom.sources.validate`) tell the two apart by the column's type.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from headroom.sources.config import TableMapping
from headroom.sources.progress import Progress
from headroom.sources.readers import (
    LINE,
    PART,
    Part,
    RawTable,
    ReadFailedError,
    append_rows,
    arrow_kind,
    differing_columns,
    file_problem,
    literal,
    missing_columns,
    quoted,
    rename,
    staged,
    wrong_types,
)
from headroom.sources.report import several_files
from headroom.sources.schema import TABLES, Kind

#: Rows per batch read from a database.
BATCH_ROWS = 500_000

#: The kinds whose values are text whatever the file's type (names, ids, choices).
_TEXT_KINDS = {Kind.TEXT, Kind.CHOICE, Kind.TIMEZONE, Kind.JSON_OBJECT}


def column_sql(name: str, kind: Kind, typ: pa.DataType) -> str:
    """The staged form of one typed column: typed where its type fits ``kind``, else text.

    >>> column_sql("d", Kind.DATE, pa.date32())
    'CAST("d" AS DATE)'
    >>> column_sql("d", Kind.DATE, pa.string())
    'coalesce(CAST("d" AS VARCHAR), \\'\\')'
    """
    q = quoted(name)
    text = f"coalesce(CAST({q} AS VARCHAR), '')"
    found = arrow_kind(typ)
    if kind in _TEXT_KINDS or found in ("string", "null"):
        return text
    if kind == Kind.DATE and found == "date":
        return f"CAST({q} AS DATE)"
    if kind == Kind.DATE and found == "timestamp":
        # the calendar day in the timestamps' own zone (UTC when they have none)
        zone = getattr(typ, "tz", None)
        local = f"timezone({literal(zone)}, {q})" if zone else q
        return f"CAST({local} AS DATE)"
    if kind == Kind.TIMESTAMP and found == "timestamp":
        return f"CAST({q} AS TIMESTAMPTZ)"  # without a zone: UTC (the session's zone)
    if kind == Kind.INTEGER and found == "integer":
        return f"CAST({q} AS BIGINT)"
    if kind == Kind.NUMBER and found in ("integer", "decimal"):
        return f"CAST({q} AS DOUBLE)"
    if kind in (Kind.DECIMAL, Kind.INTEGER, Kind.NUMBER) and found in (
        "integer",
        "floating",
        "decimal",
    ):
        return q  # checked (whole, finite, in range) and cast by the checks themselves
    return text


def _arrow_reason(exc: Exception) -> str:
    """The first line of an Arrow error, without the file path it starts with."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^Could not open Parquet input source '[^']*': ", "", text)


def _select(table: str, schema: pa.Schema, renames: dict[str, str]) -> list[str]:
    spec = TABLES[table]
    out = []
    for theirs, ours in renames.items():
        kind = spec.column(ours).kind if ours in spec.column_names else Kind.TEXT
        out.append(f"{column_sql(theirs, kind, schema.field(theirs).type)} AS {quoted(ours)}")
    return out


def stage_parquet(
    con: Any,
    table: str,
    parts: list[Part],
    label: str,
    mapping: TableMapping,
    progress: Progress,
    earlier: list[str] | None = None,
) -> RawTable:
    """The Parquet file(s) of ``table`` copied into the staging database by the engine
    (``earlier``: the files of its folder loaded before, numbered before these).

    The files' footers are read first (their columns and row counts): a file whose columns
    cannot hold the contract's values is refused before any row is read.
    """
    step = f"read {label}"
    progress.start(step, total=len(parts), unit="files")
    try:
        schemas: list[pa.Schema] = []
        rows = 0
        for part in parts:
            try:
                schemas.append(pq.read_schema(part.path))
                rows += pq.read_metadata(part.path).num_rows
            except (pa.ArrowException, OSError) as exc:
                raise ReadFailedError(
                    file_problem(
                        table,
                        part.label,
                        "not_parquet",
                        f"the file cannot be read as Parquet ({_arrow_reason(exc)}); write it "
                        "again with a Parquet writer, or export the table as CSV",
                    )
                ) from None
            progress.advance(step, 1)
        first = schemas[0]
        renames, ignored = rename(table, label, first.names, mapping)
        missing = missing_columns(table, parts[0].label, first.names, renames, mapping)
        if missing is not None:
            raise ReadFailedError(missing)
        wrong = wrong_types(table, parts[0].label, first, renames)
        for part, schema in itertools.islice(zip(parts, schemas, strict=True), 1, None):
            theirs, _ = rename(table, label, schema.names, mapping)
            if sorted(theirs.values()) != sorted(renames.values()):
                raise differing_columns(
                    table, label, parts[0], part, sorted(theirs.values()), sorted(renames.values())
                )
            wrong += wrong_types(table, part.label, schema, theirs)
        if wrong:
            raise ReadFailedError(*wrong)
        files = "[" + ", ".join(literal(str(p.path)) for p in parts) + "]"
        cols = _select(table, first, renames)
        cols.append(f"file_row_number + 1 AS {LINE}")
        earlier = earlier or []
        folder = several_files(label)
        if folder:
            at = f"list_position({files}, filename) - 1 + {len(earlier)}"
            cols.append(f"CAST({at} AS INTEGER) AS {PART}")
        relation = f"raw_{table}"
        # Copied once into the staging database: the checks and the load read it again and
        # again, and a stored table is read on every core where a file may not be.
        con.raw_sql(
            f"CREATE OR REPLACE TABLE {staged(relation)} AS SELECT {', '.join(cols)} FROM "
            f"read_parquet({files}, file_row_number = true, filename = true, "
            "union_by_name = true)"
        )
        con.raw_sql(f"CREATE OR REPLACE TEMP VIEW {relation} AS FROM {staged(relation)}")
        return RawTable(
            table,
            label,
            "row",
            relation,
            rows,
            ignored,
            parts=[*earlier, *(p.name for p in parts)] if folder else [],
        )
    finally:
        progress.finish(step)


def stage_database(
    con: Any,
    table: str,
    t: Any,
    label: str,
    mapping: TableMapping,
    progress: Progress,
    since: dt.date | None = None,
) -> RawTable:
    """A database table (an ibis table on its own backend), copied in key order, in batches.

    ``since``: only its rows dated from that day on (a dated table: usage, events), the
    database choosing them (the condition is part of the query it runs), when the column
    dating them is a date or a time there; a date written as text is read whole.
    """
    header = list(t.columns)
    renames, ignored = rename(table, label, header, mapping)
    missing = missing_columns(table, label, header, renames, mapping)
    if missing is not None:
        raise ReadFailedError(missing)
    theirs_of = {ours: theirs for theirs, ours in renames.items()}
    if since is not None:
        t, since = _from_day(t, theirs_of.get(DATED_BY.get(table, "")), since)
    order = [theirs_of[k] for k in TABLES[table].key if k in theirs_of]
    # UUIDs arrive as text: the drivers hand them over as objects Arrow cannot hold.
    cols = {c: t[c].cast("string") if t[c].type().is_uuid() else t[c] for c in renames}
    step = f"read {label}"
    progress.start(step, total=None, unit="rows")
    duck = con.con
    staging = staged(f"staged_{table}")
    rows = 0
    try:
        try:
            batches = _batches(t.select(**cols).order_by(order or list(renames)))
            schema = batches.schema
            wrong = wrong_types(table, label, schema, renames)
            if wrong:
                raise ReadFailedError(*wrong)
            empty = pa.Table.from_batches([], schema=schema)
            append_rows(duck, staging, _numbered(empty, 0), create=True)
            for batch in batches:
                append_rows(duck, staging, _numbered(pa.Table.from_batches([batch]), rows))
                rows += batch.num_rows
                progress.advance(step, batch.num_rows)
        except ReadFailedError:
            raise
        except Exception as exc:  # any driver's error: a column type it cannot hand over, say
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ReadFailedError(
                file_problem(table, label, "unreadable", f"the table cannot be read ({first})")
            ) from None
        relation = f"raw_{table}"
        select = [*_select(table, schema, renames), quoted(LINE)]
        con.raw_sql(
            f"CREATE OR REPLACE TEMP VIEW {relation} AS SELECT {', '.join(select)} FROM {staging}"
        )
        return RawTable(
            table, label, "row", relation, rows, ignored, key_in_location=True, since=since
        )
    finally:
        progress.finish(step)


#: The column dating the rows of each table a run reads only the last days of.
DATED_BY = {"usage_daily": "date", "events": "timestamp"}


def _from_day(t: Any, column: str | None, since: dt.date) -> tuple[Any, dt.date | None]:
    """``t`` with only its rows dated from ``since`` on, and the day it is read from (None:
    read whole, its dating column being text: comparing text dates may not be right)."""
    if column is None:
        return t, None
    typ = t[column].type()
    # A day early: a time without a zone, or in another zone, may fall on the day before in
    # UTC; the checks and the run see a day more than they need, never a day less.
    first = since - dt.timedelta(days=1)
    if typ.is_date():
        return t.filter(t[column] >= first), since
    if typ.is_timestamp():
        moment = dt.datetime.combine(first, dt.time())
        if typ.timezone is not None:
            moment = moment.replace(tzinfo=dt.UTC)
        return t.filter(t[column] >= moment), since
    return t, None


def _numbered(rows: pa.Table, before: int) -> pa.Table:
    """``rows`` with their row numbers, after ``before`` rows."""
    return rows.append_column(
        LINE, pa.array(range(before + 1, before + rows.num_rows + 1), pa.int64())
    )


def _batches(expr: Any) -> pa.RecordBatchReader:
    """An ibis expression's rows, a batch at a time."""
    backend = expr._find_backend()
    if backend.name == "duckdb":
        # ibis 12 asks DuckDB for a method DuckDB 2 renamed; ask for the reader directly
        return backend.con.sql(backend.compile(expr)).to_arrow_reader(BATCH_ROWS)
    return expr.to_pyarrow_batches(chunk_size=BATCH_ROWS)

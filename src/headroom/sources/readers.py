"""What every reader shares: the raw table it stages, column mapping, type compatibility.

A reader stages one table of the source in the engine that checks it, in a staging database
attached beside the DuckDB file being built: a CSV file into a table of text columns, a Parquet
file or a database table as typed columns where their type already fits the contract and as text
where it does not. The checks see it through a view named ``raw_<table>``. Every raw table
carries ``_line``, the line of the file each row came from (the row number for Parquet and
database tables), and for a table read from a folder of files, ``_part``, which file. Values are
checked later, in the engine, all at once; a reader only reports what stops it from reading at
all, and keeps going where it can so that every problem is listed. Nothing is held in Python but
a batch at a time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from headroom.sources.config import TableMapping
from headroom.sources.report import Example, Problem
from headroom.sources.schema import TABLES, Kind

LINE = "_line"
#: Which file of a table read from a folder of files a row came from (an index into its parts).
PART = "_part"


def lookup_column(ours: str) -> str:
    """The name under which a lookup's join column is carried until the lookup is done."""
    return f"_lookup_{ours}"


#: Arrow types that can hold each kind of column in a typed file (Parquet, a database).
#: Dictionary-encoded columns count as their values' type; a column of only nulls (Arrow type
#: null) fits every kind.
COMPATIBLE: dict[Kind, tuple[str, ...]] = {
    Kind.TEXT: ("string", "integer", "null"),
    Kind.DECIMAL: ("integer", "floating", "decimal", "string", "null"),
    Kind.INTEGER: ("integer", "string", "floating", "null"),
    Kind.NUMBER: ("integer", "floating", "decimal", "string", "null"),
    Kind.DATE: ("date", "timestamp", "string", "null"),
    Kind.TIMESTAMP: ("timestamp", "string", "null"),
    Kind.JSON_OBJECT: ("string", "null"),
    Kind.TIMEZONE: ("string", "null"),
    Kind.CHOICE: ("string", "null"),
}

EXPECTED_TYPE: dict[Kind, str] = {
    Kind.TEXT: "text",
    Kind.DECIMAL: "a decimal or number",
    Kind.INTEGER: "an integer",
    Kind.NUMBER: "a number",
    Kind.DATE: "a date (date32, or ISO text)",
    Kind.TIMESTAMP: "a timestamp with a time zone",
    Kind.JSON_OBJECT: "text holding JSON",
    Kind.TIMEZONE: "text",
    Kind.CHOICE: "text",
}


@dataclass(frozen=True)
class Part:
    """One file of a table: the table's own file, or one file of its folder."""

    path: Path
    label: str  # what messages call it: "usage_daily.csv", "usage_daily/2026-12-06.parquet"
    #: Where its rows start: 0 for a whole file; the byte after the rows loaded before, for
    #: the rows appended to a CSV file since (they have no header line of their own).
    start: int = 0
    first_line: int = 1  # the line ``start`` is on

    @property
    def name(self) -> str:
        """Its name within its folder: ``2026-12-06.parquet``."""
        return self.label.rsplit("/", 1)[-1]


@dataclass
class RawTable:
    """One table as staged: columns in our names, the line each row came from, and where."""

    name: str
    label: str  # the file name, "<folder>/" for a folder of files, "table <name>" in a database
    unit: str  # "line" or "row": what the numbers in _line count
    relation: str  # the engine's table or view holding the rows
    rows: int
    ignored_columns: list[str] = field(default_factory=list)
    #: Name rows by their key too ("row 3 (subscription_id 's3')"): a database table's row
    #: numbers follow the key order the rows were read in, which nobody can see.
    key_in_location: bool = False
    #: The files of a table read from a folder, in ``_part`` order (empty for one file).
    parts: list[str] = field(default_factory=list)
    #: A database table read from this day on (only the rows a run needs), else None.
    since: dt.date | None = None

    def where(self, line: int, part: int | None = None) -> str:
        """``line 12``, or ``2026-12-06.csv, line 12`` in a folder of files."""
        here = f"{self.unit} {line}"
        if self.parts and part is not None:
            return f"{self.parts[part]}, {here}"
        return here


#: The database the readers stage rows in, attached beside the file being built and gone with
#: it. Its tables are stored compressed: a temporary table of 100 million rows of text would
#: spill uncompressed, and every check would read it back from the spill, at twice the time.
STAGE = "stage"


def staged(name: str) -> str:
    """The name of a staging table: ``stage."raw_usage_daily"``."""
    return f"{STAGE}.{quoted(name)}"


def append_rows(duck: Any, relation: str, rows: pa.Table, *, create: bool = False) -> None:
    """Append an Arrow table's rows to a table of the engine (``create``: make it from them)."""
    duck.register("_headroom_batch", rows)
    try:
        what = f"CREATE TABLE {relation} AS" if create else f"INSERT INTO {relation}"
        duck.execute(f"{what} SELECT * FROM _headroom_batch")
    finally:
        duck.unregister("_headroom_batch")


class ReadFailedError(Exception):
    """A table that cannot be read at all; carries the problems to report."""

    def __init__(self, *problems: Problem) -> None:
        self.problems = list(problems)
        super().__init__(problems[0].code)


def file_problem(table: str, label: str, code: str, message: str, *, location: str = "") -> Problem:
    return Problem("error", code, table, label, None, 1, [Example(location, None, message)])


#: The first bytes of files that end up under a .csv name: what they are, and the fix.
_CSV_FIX = "export the table as UTF-8 CSV with a header line"
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\x1f\x8b", "it is gzip-compressed", "decompress it first"),
    (b"PK\x03\x04", "it is a zip archive or an Excel workbook", "save the sheet as CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0", "it is an Excel workbook (.xls)", "save the sheet as CSV UTF-8"),
    (b"PAR1", "it is a Parquet file", "name it {table}.parquet"),
    (b"\x89PNG", "it is a PNG image", _CSV_FIX),
    (b"%PDF", "it is a PDF document", _CSV_FIX),
    (b"\xff\xfe", "it is UTF-16 text", "export the table as UTF-8 CSV"),
    (b"\xfe\xff", "it is UTF-16 text", "export the table as UTF-8 CSV"),
)


def not_text(head: bytes) -> tuple[str, str] | None:
    """Why a file's first bytes are not CSV text, and the fix; None when they may be."""
    for magic, what, fix in _MAGIC:
        if head.startswith(magic):
            return what, fix
    if b"\x00" in head:
        return "it holds binary data", _CSV_FIX
    return None


def arrow_kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return arrow_kind(t.value_type)
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or getattr(pa.types, "is_string_view", lambda _: False)(t)
    ):
        return "string"
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "floating"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    return str(t)


#: The prefix of the staged columns that only choose rows (``skip``, ``keep``).
WHERE = "_where_"


def where_column(theirs: str) -> str:
    """The name under which a column that only chooses rows is carried."""
    return WHERE + theirs


def staged_as(table: str, mapping: TableMapping, theirs: str) -> str | None:
    """What a file's column is called once staged, or None where it is not read."""
    if theirs in (lookups := {lk.on: lookup_column(o) for o, lk in mapping.lookup.items()}):
        return lookups[theirs]
    if theirs in (theirs_to_ours := {t: o for o, t in mapping.columns.items()}):
        return theirs_to_ours[theirs]
    if theirs in TABLES[table].column_names and theirs not in mapping.columns:
        return theirs
    if theirs in mapping.filters:
        return where_column(theirs)
    return None


def rename(
    table: str, label: str, header: list[str], mapping: TableMapping
) -> tuple[dict[str, str], list[str]]:
    """Map file columns onto ours: returns {theirs: ours} and the ignored file columns."""
    renames: dict[str, str] = {}
    ignored: list[str] = []
    for col in header:
        ours = staged_as(table, mapping, col)
        if ours is None:
            ignored.append(col)
        else:
            renames[col] = ours
    return renames, ignored


def missing_columns(
    table: str, label: str, header: list[str], renames: dict[str, str], mapping: TableMapping
) -> Problem | None:
    have = set(renames.values()) | set(mapping.lookup)
    spec = TABLES[table]
    examples = []
    for ours, lk in mapping.lookup.items():
        if lookup_column(ours) not in have:
            examples.append(
                Example(
                    "line 1" if label.endswith(".csv") else "",
                    lk.on,
                    f"column {lk.on!r}, used to look up {ours} in {lk.table}, is not in the "
                    f"header; the header has {', '.join(header)}",
                )
            )
    for setting, named in (("skip", mapping.skip), ("keep", mapping.keep)):
        for chooser in named:
            if chooser not in header:
                examples.append(
                    Example(
                        "line 1" if label.endswith(".csv") else "",
                        chooser,
                        f"column {chooser!r}, named by {setting}, is not in the header; the "
                        f"header has {', '.join(header)}",
                    )
                )
    for col in spec.required_columns:
        if col in have:
            continue
        theirs = mapping.columns.get(col)
        if theirs is not None:
            msg = (
                f"column {theirs!r}, mapped to {col}, is not in the header; "
                f"the header has {', '.join(header)}"
            )
        else:
            msg = (
                f"required column {col!r} is missing; the header has {', '.join(header)}. "
                f"Add the column, or map yours onto it in a source configuration "
                f"(tables: {{{table}: {{columns: {{{col}: <your column>}}}}}})"
            )
        examples.append(Example("line 1" if label.endswith(".csv") else "", col, msg))
    if not examples:
        return None
    return Problem("error", "missing_column", table, label, None, len(examples), examples)


def wrong_types(
    table: str, label: str, schema: pa.Schema, renames: dict[str, str]
) -> list[Problem]:
    """A typed file's columns whose type cannot hold what the contract puts in them."""
    spec = TABLES[table]
    problems = []
    for theirs, ours in renames.items():
        kind = spec.column(ours).kind if ours in spec.column_names else Kind.TEXT
        typ = schema.field(theirs).type
        if arrow_kind(typ) not in COMPATIBLE[kind]:
            problems.append(
                Problem(
                    "error",
                    "wrong_type",
                    table,
                    label,
                    ours,
                    1,
                    [
                        Example(
                            "",
                            str(typ),
                            f"column {theirs!r} has type {typ}; {ours} must be "
                            f"{EXPECTED_TYPE[kind]}. Write the column with that type",
                        )
                    ],
                )
            )
    return problems


def differing_columns(
    table: str, label: str, first: Part, part: Part, have: list[str], want: list[str]
) -> ReadFailedError:
    """A file of a folder whose columns are not those of the folder's first file."""
    return ReadFailedError(
        file_problem(
            table,
            label,
            "differing_columns",
            f"{part.label} has the columns {', '.join(have) or 'none'} of ours, and "
            f"{first.label} has {', '.join(want)}; every file of a folder holds the same "
            "columns",
        )
    )


def quoted(name: str) -> str:
    """A column name as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Text as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"

"""Reading one table from a CSV file, a Parquet file or a database table, untyped.

Every reader returns the table as text columns (named as in the contract, after the mapping)
plus ``_line``: the line of the file each row came from (row number for Parquet and database
tables). Types are checked later, in the engine, all at once; a reader only reports what stops
it from reading at all, and keeps going where it can so that every problem is listed.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from headroom.sources.config import TableMapping
from headroom.sources.report import Example, Problem
from headroom.sources.schema import TABLES, Kind

LINE = "_line"


def lookup_column(ours: str) -> str:
    """The name under which a lookup's join column is carried until the lookup is done."""
    return f"_lookup_{ours}"


#: Arrow types that can hold each kind of column in a typed file (Parquet, a database).
#: Dictionary-encoded columns count as their values' type; a column of only nulls (Arrow type
#: null) fits every kind.
_COMPATIBLE: dict[Kind, tuple[str, ...]] = {
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

_EXPECTED_TYPE: dict[Kind, str] = {
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


@dataclass
class RawTable:
    """One table as read: text columns in our names, plus the line each row came from."""

    name: str
    label: str  # the file name, or "table <name>" for a database
    unit: str  # "line" or "row": what the numbers in _line count
    data: pa.Table
    ignored_columns: list[str] = field(default_factory=list)
    #: Name rows by their key too ("row 3 (subscription_id 's3')"): a database table's row
    #: numbers follow the key order the rows were read in, which nobody can see.
    key_in_location: bool = False

    def columns(self) -> list[str]:
        return [c for c in self.data.column_names if c != LINE]


class ReadFailedError(Exception):
    """A table that cannot be read at all; carries the problems to report."""

    def __init__(self, *problems: Problem) -> None:
        self.problems = list(problems)
        super().__init__(problems[0].code)


def _file_problem(
    table: str, label: str, code: str, message: str, *, location: str = ""
) -> Problem:
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


def _not_text(head: bytes) -> tuple[str, str] | None:
    """Why a file's first bytes are not CSV text, and the fix; None when they may be."""
    for magic, what, fix in _MAGIC:
        if head.startswith(magic):
            return what, fix
    if b"\x00" in head:
        return "it holds binary data", _CSV_FIX
    return None


def _arrow_kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return _arrow_kind(t.value_type)
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


def _rename(
    table: str, label: str, header: list[str], mapping: TableMapping
) -> tuple[dict[str, str], list[str]]:
    """Map file columns onto ours: returns {theirs: ours} and the ignored file columns."""
    known = set(TABLES[table].column_names)
    theirs_to_ours = {theirs: ours for ours, theirs in mapping.columns.items()}
    mapped_ours = set(mapping.columns)
    lookup_keys = {lk.on: lookup_column(ours) for ours, lk in mapping.lookup.items()}
    renames: dict[str, str] = {}
    ignored: list[str] = []
    for col in header:
        if col in lookup_keys:
            renames[col] = lookup_keys[col]
        elif col in theirs_to_ours:
            renames[col] = theirs_to_ours[col]
        elif col in known and col not in mapped_ours:
            renames[col] = col
        else:
            ignored.append(col)
    return renames, ignored


def _missing_columns(
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


def read_csv(
    table: str, path: Path, label: str, mapping: TableMapping
) -> tuple[RawTable, list[Problem]]:
    """Read a CSV file as text, with the file line of every row.

    Rows with the wrong number of fields are reported (all of them) and left out; blank lines
    are skipped.
    """
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    columns = ", ".join(TABLES[table].required_columns)
    if not head.strip():
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "empty_file",
                f"the file is empty; it needs a header line naming the columns ({columns}) "
                "and one line per row",
            )
        )
    not_text = _not_text(head)
    if not_text is not None:
        what, fix = not_text
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "not_csv",
                f"this is not a CSV text file ({what}); {fix.format(table=table)}",
            )
        )
    bad_text = _first_non_utf8(path)
    if bad_text is not None:
        line, byte = bad_text
        raise ReadFailedError(
            Problem(
                "error",
                "not_utf8",
                table,
                label,
                None,
                1,
                [
                    Example(
                        f"line {line}",
                        f"0x{byte:02x}",
                        f"byte 0x{byte:02x} is not UTF-8 text; export the table as UTF-8 CSV "
                        "(a spreadsheet's 'CSV UTF-8' option)",
                    )
                ],
            )
        )
    header = _header(head)
    if not any(header):
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "no_header",
                f"line 1 is blank; the first line must be the header naming the columns "
                f"({columns})",
                location="line 1",
            )
        )
    used = {*TABLES[table].column_names, *mapping.columns.values()}
    used |= {lk.on for lk in mapping.lookup.values()}
    for name in sorted({h for h in header if h in used and header.count(h) > 1}):
        places = [str(i) for i, h in enumerate(header, 1) if h == name]
        where = ", ".join(places[:-1]) + " and " + places[-1]
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "duplicate_column",
                f"the header names column {name!r} more than once (columns {where}); keep "
                "one of them, or rename the others",
                location="line 1",
            )
        )
    # Unnamed columns (a spreadsheet's trailing commas) and repeats of unused names are ignored.
    seen: set[str] = set()
    for i, h in enumerate(header):
        if not h or h in seen:
            header[i] = f"(column {i + 1}{', no name' if not h else ''})"
        seen.add(header[i])
    renames, ignored = _rename(table, label, header, mapping)
    missing = _missing_columns(table, label, header, renames, mapping)
    if missing is not None:
        raise ReadFailedError(missing)

    def attempt(threads: bool) -> tuple[pa.Table, list[tuple[int | None, int, int, str]]]:
        bad: list[tuple[int | None, int, int, str]] = []

        def handler(row: Any) -> str:
            bad.append((row.number, row.expected_columns, row.actual_columns, row.text))
            return "skip"

        data = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                use_threads=threads, column_names=header, skip_rows=1, encoding="utf8"
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=handler, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                include_columns=list(renames),
            ),
        )
        return data, bad

    try:
        data, bad = attempt(threads=True)
        if bad:  # only a single-threaded read knows the line numbers of bad rows
            data, bad = attempt(threads=False)
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if "UTF8" in text or "utf8" in text.lower():
            msg = "the file is not UTF-8 text; export the table as UTF-8 CSV"
        else:
            msg = f"the file cannot be read as CSV ({text.splitlines()[0]}); export it as UTF-8 CSV"
        raise ReadFailedError(_file_problem(table, label, "not_csv", msg)) from None

    problems: list[Problem] = []
    # pyarrow numbers records from 1 after the skipped header.
    total = data.num_rows + len(bad)
    layout = _multiline_layout(path, total, len(header))
    if layout is not None and len(layout[1]) == len(bad):
        starts, bad_records = layout

        def line_of(record: Any) -> Any:
            return starts[record]
    else:
        # pyarrow counts the skipped header too: its number is already the record + 1.
        bad_records = [int(n) - 1 for n, *_ in bad if n is not None]

        def line_of(record: Any) -> Any:
            return record + 1

    if bad:
        examples = [
            Example(
                f"line {line_of(bad_records[k])}" if k < len(bad_records) else "",
                text[:80],
                f"expected {exp} fields, found {act}; every line needs one value per header "
                "column (quote values that contain commas)",
            )
            for k, (_, exp, act, text) in enumerate(bad[:5])
        ]
        problems.append(Problem("error", "bad_row", table, label, None, len(bad), examples))
    records = np.setdiff1d(np.arange(1, total + 1, dtype=np.int64), np.asarray(bad_records))
    data = data.rename_columns([renames[c] for c in data.column_names])
    lines = line_of(records[: data.num_rows])
    data = data.append_column(LINE, pa.array(lines, pa.int64()))
    data = _drop_blank_rows(data)
    return RawTable(table, label, "line", data, ignored), problems


def _header(head: bytes) -> list[str]:
    """The column names on line 1 (which may end in LF, CRLF or a lone CR), stripped."""
    first_line = re.split(rb"\r\n|\n|\r", head, maxsplit=1)[0]
    text = first_line.decode("utf-8-sig", errors="replace")  # checked to be UTF-8 before
    try:
        names = next(csv.reader([text]), [])
    except csv.Error:  # pragma: no cover - one line without line breaks always parses
        names = text.split(",")
    return [h.strip() for h in names]


def _first_non_utf8(path: Path) -> tuple[int, int] | None:
    """The line and value of the first byte that is not UTF-8, if any (pyarrow cannot say)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return line + block[: exc.start].count(b"\n"), block[exc.start]
            line += block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return line, 0
    return None


def _multiline_layout(path: Path, records: int, width: int) -> tuple[Any, list[int]] | None:
    """Where each record starts when quoted values span lines, and which records are malformed.

    None when every record is one line (the file has header + records lines): then record n is
    line n + 1. Only a file whose quoted values hold line breaks is scanned record by record.
    """
    breaks, last = 0, b""  # line breaks: LF, CRLF or a lone CR, as the CSV readers count them
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            breaks += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
            if last == b"\r" and block.startswith(b"\n"):
                breaks -= 1  # a CRLF split between two blocks
            last = block[-1:]
    physical = breaks + (1 if last not in (b"\n", b"\r", b"") else 0)
    if physical <= records + 1:
        return None
    starts = [1]  # starts[n]: the line record n starts on; record 0 is the header
    bad: list[int] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        for n, fields in enumerate(reader):
            if n and fields and len(fields) != width:
                bad.append(n)
            starts.append(reader.line_num + 1)
    return np.asarray(starts, np.int64), bad


def _drop_blank_rows(data: pa.Table) -> pa.Table:
    cols = [c for c in data.column_names if c != LINE]
    if not cols or data.num_rows == 0:
        return data
    blank = pc.equal(pc.utf8_length(data[cols[0]]), 0)
    for c in cols[1:]:
        blank = pc.and_(blank, pc.equal(pc.utf8_length(data[c]), 0))
    return data.filter(pc.invert(blank))


def typed_to_text(
    table: str, label: str, data: pa.Table, mapping: TableMapping
) -> tuple[RawTable, list[Problem]]:
    """A typed table (Parquet, database) checked for compatible types and turned into text."""
    header = data.column_names
    renames, ignored = _rename(table, label, header, mapping)
    missing = _missing_columns(table, label, header, renames, mapping)
    if missing is not None:
        raise ReadFailedError(missing)
    spec = TABLES[table]
    problems: list[Problem] = []
    arrays: list[pa.Array | pa.ChunkedArray] = []
    names: list[str] = []
    for theirs, ours in renames.items():
        col = data[theirs]
        kind = spec.column(ours).kind if ours in spec.column_names else Kind.TEXT
        arrow_kind = _arrow_kind(col.type)
        if arrow_kind not in _COMPATIBLE[kind]:
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
                            str(col.type),
                            f"column {theirs!r} has type {col.type}; {ours} must be "
                            f"{_EXPECTED_TYPE[kind]}. Write the column with that type",
                        )
                    ],
                )
            )
            continue
        arrays.append(pc.fill_null(_as_text(col, kind), ""))
        names.append(ours)
    if problems:
        raise ReadFailedError(*problems)
    out = pa.table(dict(zip(names, arrays, strict=True)))
    out = out.append_column(LINE, pa.array(np.arange(1, out.num_rows + 1, dtype=np.int64)))
    return RawTable(table, label, "row", out, ignored), []


def _as_text(col: pa.ChunkedArray, kind: Kind) -> pa.ChunkedArray:
    """A typed column as the text a CSV file would hold, for the same checks."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_null(col.type):
        return pa.chunked_array([pa.nulls(len(col), pa.string())])
    if not pa.types.is_timestamp(col.type):
        return pc.cast(col, pa.string())
    if col.type.tz is None:  # a timestamp without a zone is taken as UTC
        col = pc.assume_timezone(col, "UTC")
    # A date column given as timestamps: the calendar day in the timestamps' own zone.
    return pc.strftime(col, format="%Y-%m-%d" if kind == Kind.DATE else "%Y-%m-%dT%H:%M:%S%z")


def _arrow_reason(exc: Exception) -> str:
    """The first line of an Arrow error, without the file path it starts with."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^Could not open Parquet input source '[^']*': ", "", text)


def read_parquet(
    table: str, path: Path, label: str, mapping: TableMapping
) -> tuple[RawTable, list[Problem]]:
    try:
        data = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "not_parquet",
                f"the file cannot be read as Parquet ({_arrow_reason(exc)}); write it again "
                "with a Parquet writer, or export the table as CSV",
            )
        ) from None
    return typed_to_text(table, label, data, mapping)


def read_database(
    table: str, t: Any, label: str, mapping: TableMapping
) -> tuple[RawTable, list[Problem]]:
    """A database table (an ibis table): the columns the contract uses, in key order."""
    header = list(t.columns)
    renames, ignored = _rename(table, label, header, mapping)
    missing = _missing_columns(table, label, header, renames, mapping)
    if missing is not None:
        raise ReadFailedError(missing)
    theirs_of = {ours: theirs for theirs, ours in renames.items()}
    order = [theirs_of[k] for k in TABLES[table].key if k in theirs_of]
    # UUIDs arrive as text: the drivers hand them over as objects Arrow cannot hold.
    cols = {c: t[c].cast("string") if t[c].type().is_uuid() else t[c] for c in renames}
    try:
        data = t.select(**cols).order_by(order or list(renames)).to_pyarrow()
    except Exception as exc:  # any driver's error: a column type it cannot hand over, say
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReadFailedError(
            _file_problem(table, label, "unreadable", f"the table cannot be read ({first})")
        ) from None
    raw, problems = typed_to_text(table, label, data, mapping)
    raw.ignored_columns = ignored
    raw.key_in_location = True
    return raw, problems

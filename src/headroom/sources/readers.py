"""Reading one table from a CSV file, a Parquet file or a database table, untyped.

Every reader returns the table as text columns (named as in the contract, after the mapping)
plus ``_line``: the line of the file each row came from (row number for Parquet and database
tables). Types are checked later, in the engine, all at once; a reader only reports what stops
it from reading at all, and keeps going where it can so that every problem is listed.
"""

from __future__ import annotations

import codecs
import csv
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
_COMPATIBLE: dict[Kind, tuple[str, ...]] = {
    Kind.TEXT: ("string", "integer", "dictionary"),
    Kind.DECIMAL: ("integer", "floating", "decimal", "string"),
    Kind.INTEGER: ("integer", "string", "floating"),
    Kind.NUMBER: ("integer", "floating", "decimal", "string"),
    Kind.DATE: ("date", "timestamp", "string"),
    Kind.TIMESTAMP: ("timestamp", "string"),
    Kind.JSON_OBJECT: ("string",),
    Kind.TIMEZONE: ("string", "dictionary"),
    Kind.CHOICE: ("string", "dictionary"),
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

    def columns(self) -> list[str]:
        return [c for c in self.data.column_names if c != LINE]


class ReadFailedError(Exception):
    """A table that cannot be read at all; carries the problems to report."""

    def __init__(self, *problems: Problem) -> None:
        self.problems = list(problems)
        super().__init__(problems[0].code)


def _file_problem(
    table: str, label: str, code: str, message: str, column: str | None = None
) -> Problem:
    return Problem("error", code, table, label, column, 1, [Example("", None, message)])


def _arrow_kind(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
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
    if pa.types.is_dictionary(t):
        return "dictionary"
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
    if not head.strip():
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "empty_file",
                f"the file is empty; it needs a header line naming the columns "
                f"({', '.join(TABLES[table].required_columns)}) and one line per row",
            )
        )
    if b"\x00" in head:
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "not_csv",
                "this is not a CSV text file (it holds binary data); "
                "export the table as UTF-8 CSV with a header line",
            )
        )
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        header = next(csv.reader([first_line.decode("utf-8-sig")]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "not_csv",
                "line 1 is not UTF-8 CSV text; export the table as UTF-8 CSV with a header line",
            )
        ) from None
    header = [h.strip() for h in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "duplicate_column",
                f"line 1 names column {dupes[0]!r} more than once; each column needs one name",
            )
        )
    renames, ignored = _rename(table, label, header, mapping)
    missing = _missing_columns(table, label, header, renames, mapping)
    if missing is not None:
        raise ReadFailedError(missing)
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
    newlines, last = 0, b""
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            newlines += block.count(b"\n")
            last = block[-1:]
    physical = newlines + (1 if last not in (b"\n", b"") else 0)
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
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if kind == Kind.DATE and arrow_kind == "timestamp":
            col = pc.cast(col, pa.date32())
        if arrow_kind == "timestamp" and col.type.tz is None:
            col = pc.assume_timezone(col, "UTC")
        if arrow_kind == "timestamp":
            text = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S%z")
        else:
            text = pc.cast(col, pa.string())
        arrays.append(pc.fill_null(text, ""))
        names.append(ours)
    if problems:
        raise ReadFailedError(*problems)
    out = pa.table(dict(zip(names, arrays, strict=True)))
    out = out.append_column(LINE, pa.array(np.arange(1, out.num_rows + 1, dtype=np.int64)))
    return RawTable(table, label, "row", out, ignored), []


def read_parquet(
    table: str, path: Path, label: str, mapping: TableMapping
) -> tuple[RawTable, list[Problem]]:
    try:
        data = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ReadFailedError(
            _file_problem(
                table,
                label,
                "not_parquet",
                f"the file cannot be read as Parquet ({str(exc).splitlines()[0]})",
            )
        ) from None
    return typed_to_text(table, label, data, mapping)

"""Staging CSV files into tables of text columns, in bounded memory.

A large file is first read by the engine's own CSV reader, on every core, into a table of the
staging database, which keeps the rows in file order: record ``n`` is row id ``n - 1``. Most
files are one record a line, and the file's count of lines (taken meanwhile) then proves that
record ``n`` is line ``n + 1``. Any other file (one whose values hold line breaks, with blank
lines, bad rows or text that is not UTF-8) and every small one is read by the streaming reader
below, which numbers lines in every case and tells what is wrong where.

The streaming reader reads batch by batch.

Each row keeps the line of the file it starts on. A row is a record of the CSV reader; the
reader numbers records, and a record spans one line more for every line break inside its
quoted values. In most files no value holds a line break, and record ``n`` is line ``n``:
the file's own count of line breaks, taken as it is read, says so at the end. When it does
not, the file is read again, every column of it, and the line of record ``n`` is ``n`` plus
the line breaks inside the values of the records before it, counted batch by batch.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from headroom.sources.config import TableMapping
from headroom.sources.progress import Progress
from headroom.sources.readers import (
    LINE,
    PART,
    Part,
    RawTable,
    ReadFailedError,
    append_rows,
    differing_columns,
    file_problem,
    literal,
    missing_columns,
    not_text,
    quoted,
    rename,
    staged,
)
from headroom.sources.report import EXAMPLES_PER_PROBLEM, Example, Problem, several_files
from headroom.sources.schema import TABLES

#: Bytes the CSV reader parses at a time: a batch of rows is about this much text.
BLOCK_BYTES = 16 << 20
#: The largest block a row may need (a row is parsed within one block): 16 MB, then 64, 256.
MAX_BLOCK_BYTES = 256 << 20
#: Files at least this big are first read by the engine's own CSV reader, on every core; the
#: streaming reader reads smaller ones as quickly, and any file the engine's cannot number.
PARALLEL_BYTES = 32 << 20
_BREAK = r"\r\n|\r|\n"


class _RowTooLongError(Exception):
    """A row longer than the reader's block: the file is read again in larger blocks."""


@dataclass
class _Header:
    names: list[str]
    renames: dict[str, str]  # theirs -> ours, for the columns staged
    ignored: list[str]


@dataclass
class _BadRows:
    """Rows with the wrong number of fields: how many, and the first few."""

    count: int = 0
    first: list[tuple[int, int, int, str]] = field(default_factory=list)  # line, exp, act, text


class _Counting:
    """A binary file that counts the line breaks (LF, CRLF, lone CR) of what is read from it."""

    def __init__(self, path: Path, start: int = 0) -> None:
        self.file = path.open("rb")
        self.file.seek(start)
        self.breaks = 0
        self.last = b""
        self.bytes = 0
        self.closed = False
        self.comma_ended = False  # a line ends with the delimiter (see ends_with_delimiter)

    def read(self, size: int = -1) -> bytes:
        block = self.file.read(size)
        if block:
            self.breaks += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
            if self.last == b"\r" and block.startswith(b"\n"):
                self.breaks -= 1  # a CRLF split between two reads
            if not self.comma_ended:
                self.comma_ended = (
                    b",\n" in block
                    or b",\r" in block
                    or (self.last == b"," and block[:1] in (b"\n", b"\r"))
                )
            self.last = block[-1:]
            self.bytes += len(block)
        return block

    def lines(self) -> int:
        """Lines read so far: line breaks, plus a last line without one."""
        return self.breaks + (1 if self.last not in (b"\n", b"\r", b"") else 0)

    def ends_with_delimiter(self) -> bool:
        """Whether some line read so far ends with a comma. DuckDB's reader takes a comma
        ending a line that has one field too many as a trailing delimiter and drops it, even
        in strict mode; such a file is read by the streaming reader, which says the row is
        too wide. (A comma may also end a line whose last value is empty: read so too.)"""
        return self.comma_ended or self.last == b","

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.file.close()
        self.closed = True


def _count_all(counting: _Counting) -> None:
    """Read a file to its end, counting its lines."""
    while counting.read(BLOCK_BYTES):
        pass


def _header_names(head: bytes) -> list[str]:
    """The column names on line 1 (which may end in LF, CRLF or a lone CR), stripped."""
    first_line = re.split(rb"\r\n|\n|\r", head, maxsplit=1)[0]
    text = first_line.decode("utf-8-sig", errors="replace")
    try:
        names = next(csv.reader([text]), [])
    except csv.Error:  # pragma: no cover - one line without line breaks always parses
        names = text.split(",")
    return [h.strip() for h in names]


def _not_utf8(table: str, label: str, line: int, byte: int) -> ReadFailedError:
    return ReadFailedError(
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


def first_non_utf8(path: Path) -> tuple[int, int] | None:
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


def _header(table: str, part: Part, mapping: TableMapping) -> _Header:
    """The file's header, checked: what stops it from being read at all is raised."""
    label = part.label
    with part.path.open("rb") as fh:
        head = fh.read(64 * 1024)
    columns = ", ".join(TABLES[table].required_columns)
    if not head.strip():
        raise ReadFailedError(
            file_problem(
                table,
                label,
                "empty_file",
                f"the file is empty; it needs a header line naming the columns ({columns}) "
                "and one line per row",
            )
        )
    found = not_text(head)
    if found is not None:
        what, fix = found
        raise ReadFailedError(
            file_problem(
                table,
                label,
                "not_csv",
                f"this is not a CSV text file ({what}); {fix.format(table=table)}",
            )
        )
    try:  # the whole file is checked only when the reader finds bad text
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError as exc:
        raise _not_utf8(table, label, 1 + head[: exc.start].count(b"\n"), head[exc.start]) from None
    names = _header_names(head)
    if not any(names):
        raise ReadFailedError(
            file_problem(
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
    for name in sorted({h for h in names if h in used and names.count(h) > 1}):
        places = [str(i) for i, h in enumerate(names, 1) if h == name]
        where = ", ".join(places[:-1]) + " and " + places[-1]
        raise ReadFailedError(
            file_problem(
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
    for i, h in enumerate(names):
        if not h or h in seen:
            names[i] = f"(column {i + 1}{', no name' if not h else ''})"
        seen.add(names[i])
    renames, ignored = rename(table, label, names, mapping)
    missing = missing_columns(table, label, names, renames, mapping)
    if missing is not None:
        raise ReadFailedError(missing)
    return _Header(names, renames, ignored)


def _breaks(batch: pa.RecordBatch) -> Any:
    """Line breaks inside each row's values (numpy int64), or None when there are none."""
    total = None
    for col in batch.columns:
        if pc.any(pc.match_substring_regex(col, _BREAK)).as_py():
            n = pc.count_substring_regex(col, _BREAK).to_numpy(zero_copy_only=False)
            total = n if total is None else total + n
    return total


def _open(
    counting: _Counting, header: _Header, wanted: list[str], handler: Any, skip: int, block: int
) -> Any:
    return pacsv.open_csv(
        counting,
        read_options=pacsv.ReadOptions(
            use_threads=False,  # records numbered for the handler; faster here too
            column_names=header.names,
            skip_rows=skip,
            encoding="utf8",
            block_size=block,
        ),
        parse_options=pacsv.ParseOptions(
            invalid_row_handler=handler, ignore_empty_lines=False, newlines_in_values=True
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header.names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            include_columns=wanted,
        ),
    )


def _drop_blank(data: pa.Table) -> pa.Table:
    """Rows whose every value is empty (blank lines) are not rows."""
    cols = [c for c in data.column_names if c not in (LINE, PART)]
    if not cols or data.num_rows == 0:
        return data
    blank = pc.equal(pc.utf8_length(data[cols[0]]), 0)
    for c in cols[1:]:
        blank = pc.and_(blank, pc.equal(pc.utf8_length(data[c]), 0))
    return data.filter(pc.invert(blank))


class _Stager:
    """Appends one file's rows, with their lines, to the raw table."""

    def __init__(self, con: Any, name: str, ours: list[str], progress: Progress, step: str):
        self.duck = con.con  # the DuckDB connection itself: batches go in as Arrow
        self.name = name
        self.relation = staged(name)
        self.ours = ours
        self.progress = progress
        self.step = step
        self.rows = 0
        self.lines: dict[int, int] = {}  # lines of each file read, by part index
        self.created = False
        self.block = BLOCK_BYTES  # grown for a file with a row longer than a block

    def create(self) -> None:
        if self.created:
            return
        cols = [f"{quoted(c)} VARCHAR" for c in self.ours]
        self.duck.execute(
            f"CREATE OR REPLACE TABLE {self.relation} "
            f"({', '.join(cols)}, {LINE} BIGINT, {PART} INTEGER)"
        )
        self.created = True

    def forget(self, index: int, rows_before: int) -> None:
        """Drop the rows staged from file ``index`` (to read it again)."""
        self.duck.execute(f"DELETE FROM {self.relation} WHERE {PART} = {index}")
        self.rows = rows_before

    def read_parallel(self, part: Part, index: int, header: _Header) -> str | None:
        """Read a whole file with the engine's own CSV reader, on every core: returns the
        query giving its rows with their lines, or None when the streaming reader must read
        it (a value holding a line break or a blank line, which shift lines from records; a
        row of the wrong width, a stray quote, text that is not UTF-8: each is then found and
        reported by the streaming reader, as for any file).

        The engine keeps the rows in the order of the file, so record ``n`` is row id
        ``n - 1``; the file's count of lines, taken meanwhile, says whether record ``n`` is
        line ``n + 1``.
        """
        target = staged(f"{self.name}_{index}")
        position = {theirs: i for i, theirs in enumerate(header.names)}
        theirs_of = {ours: theirs for theirs, ours in header.renames.items()}
        columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header.names)))
        select = ", ".join(
            f"coalesce(c{position[theirs_of[c]]}, '') AS {quoted(c)}" for c in self.ours
        )
        counting = _Counting(part.path)
        counter = threading.Thread(target=_count_all, args=(counting,), daemon=True)
        counter.start()
        (kept,) = self.duck.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        try:
            self.duck.execute("SET preserve_insertion_order = true")
            self.duck.execute(
                f"CREATE OR REPLACE TABLE {target} AS SELECT {select} FROM read_csv("
                f"{literal(str(part.path))}, header = false, skip = 1, auto_detect = false, "
                f"columns = {{{columns}}}, delim = ',', quote = '\"', escape = '\"', "
                "strict_mode = true, null_padding = false, all_varchar = true, "
                "encoding = 'utf-8')"
            )
        except duckdb.Error:
            self.duck.execute(f"DROP TABLE IF EXISTS {target}")
            return None
        finally:
            self.duck.execute(f"SET preserve_insertion_order = {str(kept).lower()}")
            counter.join()
            counting.close()
        (rows,) = self.duck.execute(f"SELECT count(*) FROM {target}").fetchone()
        if counting.lines() != rows + 1 or counting.ends_with_delimiter():
            self.duck.execute(f"DROP TABLE IF EXISTS {target}")
            return None
        names = ", ".join(quoted(c) for c in self.ours)
        query = (
            f"SELECT {names}, rowid + 2 AS {LINE}, CAST({index} AS INTEGER) AS {PART} FROM {target}"
        )
        blank = " AND ".join(f"{quoted(c)} = ''" for c in self.ours)
        (blanks,) = self.duck.execute(f"SELECT count(*) FROM {target} WHERE {blank}").fetchone()
        if blanks:
            query += f" WHERE NOT ({blank})"
        self.lines[index] = counting.lines()
        self.rows += rows - blanks
        self.progress.advance(self.step, rows - blanks)
        return query

    def stage(
        self, table: str, part: Part, index: int, header: _Header, breaks_inside: bool
    ) -> tuple[_BadRows, bool]:
        """Stream the file in; returns its bad rows and whether its lines are right (False
        when some value held a line break: read it again with ``breaks_inside``)."""
        waiting: deque[tuple[int | None, int, int, str]] = deque()

        def handler(row: Any) -> str:
            waiting.append((row.number, row.expected_columns, row.actual_columns, row.text))
            return "skip"

        wanted = header.names if breaks_inside else list(header.renames)
        bad = _BadRows()
        # the next record's number: the header is record 1, or the rows appended start at 1
        record = 1 if part.start else 2
        carry = part.first_line - 1  # lines before the first record, line breaks in values
        counting = _Counting(part.path, part.start)
        try:
            try:
                reader = _open(
                    counting, header, wanted, handler, 0 if part.start else 1, self.block
                )
            except pa.ArrowInvalid as exc:
                if "Could not skip initial" not in str(exc):
                    raise
                self.lines[index] = counting.lines()
                return bad, True  # the header alone: no rows
            # The reader reports bad rows as it parses, and parses a block ahead: the bad rows
            # heard of when a batch arrives may lie after it. Those before its last row (or
            # right after it) are its own; a block of nothing but bad rows gives no batch.
            for batch in itertools.chain(reader, [None]):
                if batch is None:
                    if not waiting:
                        break
                    batch = pa.RecordBatch.from_pylist([], schema=reader.schema)
                if any(n is None for n, *_ in waiting):  # pragma: no cover - only when threaded
                    raise RuntimeError("the CSV reader did not number a bad row")
                end = record + batch.num_rows
                mine: list[tuple[int, int, int, str]] = []
                while waiting and (waiting[0][0] <= end or batch.num_rows == 0):
                    mine.append(waiting.popleft())  # type: ignore[arg-type]
                    end += 1
                bad_now = mine
                numbers = [n for n, *_ in bad_now]
                count = batch.num_rows + len(bad_now)
                breaks = np.zeros(count, np.int64)
                is_bad = np.zeros(count, bool)
                if bad_now:
                    at = np.asarray(numbers, np.int64) - record
                    is_bad[at] = True
                    if breaks_inside:
                        breaks[at] = [len(re.findall(_BREAK, text)) for *_, text in bad_now]
                inside = _breaks(batch) if breaks_inside else None
                if inside is not None:
                    breaks[~is_bad] = inside
                before = carry + np.cumsum(breaks) - breaks
                lines = np.arange(record, record + count, dtype=np.int64) + before
                for k, (_, exp, act, text) in enumerate(bad_now):
                    bad.count += 1
                    if len(bad.first) < EXAMPLES_PER_PROBLEM:
                        bad.first.append((int(lines[is_bad][k]), exp, act, text))
                data = pa.Table.from_batches([batch]).select(list(header.renames))
                data = data.rename_columns([header.renames[c] for c in data.column_names])
                data = data.select(self.ours)
                data = data.append_column(LINE, pa.array(lines[~is_bad], pa.int64()))
                data = data.append_column(PART, pa.array(np.full(data.num_rows, index, np.int32)))
                data = _drop_blank(data)
                append_rows(self.duck, self.relation, data)
                self.rows += data.num_rows
                self.progress.advance(self.step, data.num_rows)
                record += count
                carry = int(before[-1] + breaks[-1]) if count else carry
        except pa.ArrowInvalid as exc:
            text = str(exc)
            if "straddl" in text:  # a row longer than a block: read again in larger blocks
                if self.block < MAX_BLOCK_BYTES:
                    raise _RowTooLongError from None
                msg = (
                    f"a row of the file is over {MAX_BLOCK_BYTES >> 20} MB long; check that its "
                    "quotes are closed, and keep each value under that"
                )
                raise ReadFailedError(file_problem(table, part.label, "not_csv", msg)) from None
            if "UTF8" in text or "utf8" in text.lower():
                where = first_non_utf8(part.path)
                if where is not None:
                    raise _not_utf8(table, part.label, *where) from None
                msg = "the file is not UTF-8 text; export the table as UTF-8 CSV"
            else:
                msg = (
                    f"the file cannot be read as CSV ({text.splitlines()[0]}); "
                    "export it as UTF-8 CSV"
                )
            raise ReadFailedError(file_problem(table, part.label, "not_csv", msg)) from None
        finally:
            counting.close()
        # the header, the records and the line breaks inside them are every line of the file
        self.lines[index] = part.first_line - 1 + counting.lines()
        return bad, breaks_inside or counting.lines() <= record - 1


def stage_csv(
    con: Any,
    table: str,
    parts: list[Part],
    label: str,
    mapping: TableMapping,
    progress: Progress,
    earlier: list[str] | None = None,
) -> tuple[RawTable, list[Problem], dict[str, int]]:
    """Stream the CSV file(s) of ``table`` into a table of text columns.

    Rows with the wrong number of fields are reported (counted, the first few shown) and left
    out; blank lines are skipped. ``earlier`` names the files of the folder loaded before (the
    new ones are numbered after them). Also returns each file's count of lines.
    """
    earlier = earlier or []
    headers = [_header(table, part, mapping) for part in parts]
    first = headers[0]
    ours = list(first.renames.values())
    for part, header in zip(parts[1:], headers[1:], strict=True):
        if sorted(header.renames.values()) != sorted(ours):
            raise differing_columns(
                table, label, parts[0], part, sorted(header.renames.values()), sorted(ours)
            )
    relation = f"raw_{table}"
    step = f"read {label}"
    progress.start(step, total=None, unit="rows")
    stager = _Stager(con, relation, ours, progress, step)
    problems: list[Problem] = []
    pieces: list[str] = []  # the queries whose rows, together, are the table's
    try:
        for index, (part, header) in enumerate(zip(parts, headers, strict=True), len(earlier)):
            if part.start == 0 and part.path.stat().st_size >= PARALLEL_BYTES:
                query = stager.read_parallel(part, index, header)
                if query is not None:
                    pieces.append(query)
                    continue
            stager.create()
            before = stager.rows
            while True:
                try:
                    bad, right = stager.stage(table, part, index, header, breaks_inside=False)
                    if not right:  # values hold line breaks: read it again, counting them
                        stager.forget(index, before)
                        bad, _ = stager.stage(table, part, index, header, breaks_inside=True)
                    break
                except _RowTooLongError:
                    stager.forget(index, before)
                    stager.block *= 4
            if bad.count:
                problems.append(_bad_rows(table, part.label, bad))
        if stager.created:
            pieces.insert(0, f"SELECT * FROM {stager.relation}")
        con.raw_sql(f"CREATE OR REPLACE TEMP VIEW {relation} AS {' UNION ALL '.join(pieces)}")
    finally:
        progress.finish(step)
    raw = RawTable(
        table,
        label,
        "line",
        relation,
        stager.rows,
        first.ignored,
        parts=[*earlier, *(p.name for p in parts)] if several_files(label) else [],
    )
    lines = {part.label: stager.lines.get(i, 0) for i, part in enumerate(parts, len(earlier))}
    return raw, problems, lines


def _bad_rows(table: str, label: str, bad: _BadRows) -> Problem:
    examples = [
        Example(
            f"line {line}",
            text[:80],
            f"expected {exp} fields, found {act}; every line needs one value per header "
            "column (quote values that contain commas)",
        )
        for line, exp, act, text in bad.first
    ]
    return Problem("error", "bad_row", table, label, None, bad.count, examples)

"""Finding a source's tables: the files of a folder (one per table, or a folder of parts per
table), or the tables of a database, each named by the contract or by the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis

from headroom.errors import ConfigError
from headroom.sources.config import SourceSpec, database_file
from headroom.sources.limits import limit
from headroom.sources.readers import Part
from headroom.sources.report import BESIDE, Example, Problem, Report
from headroom.sources.schema import TABLES


@dataclass(frozen=True)
class Located:
    """Where one table of the source comes from."""

    table: str
    kind: str  # csv | parquet | database
    location: str  # file or folder path, or table name in the database
    label: str  # what messages call it
    #: The files holding it: one, or those of its folder (``usage_daily/*.parquet``).
    parts: tuple[Part, ...] = ()


def _folder_parts(folder: Path, name: str) -> tuple[str, list[Part]] | str:
    """The files of a table kept as a folder of files (``usage_daily/2026-12-06.parquet``, in
    name order), all CSV or all Parquet; or what is wrong with the folder."""
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    kinds = {p.suffix.lower() for p in files}
    if not files or not kinds <= {".csv", ".parquet"} or len(kinds) != 1:
        found = ", ".join(sorted(kinds)) or "no files"
        return (
            f"the folder {name}/ holds {found}; a table's folder holds only .csv files or only "
            ".parquet files, one per part (e.g. one per day)"
        )
    kind = "parquet" if kinds == {".parquet"} else "csv"
    return kind, [Part(p, f"{name}/{p.name}") for p in files]


def discover_folder(spec: SourceSpec, report: Report) -> list[Located]:
    assert spec.folder is not None
    entries = {p.name: p for p in spec.folder.iterdir() if p.is_file() or p.is_dir()}
    used: set[str] = set()
    found: list[Located] = []
    for name in TABLES:
        mapped = spec.mapping(name).source
        candidates = [mapped] if mapped else [f"{name}.csv", f"{name}.parquet", name]
        # a folder named as the table holds its files; a mapping may name a file or a folder
        present = [
            c
            for c in candidates
            if c in entries and (c == mapped or entries[c].is_dir() == (c == name))
        ]
        if mapped and not present:
            report.add(
                Problem(
                    "error",
                    "missing_file",
                    name,
                    mapped,
                    None,
                    1,
                    [
                        Example(
                            "",
                            None,
                            f"the mapping reads {name} from {mapped!r}, which is not in the folder",
                        )
                    ],
                )
            )
            continue
        if len(present) > 1:
            report.add(
                Problem(
                    "error",
                    "ambiguous_file",
                    name,
                    present[0],
                    None,
                    1,
                    [
                        Example(
                            "",
                            None,
                            f"both {present[0]} and {present[1]} hold {name}; keep one of them",
                        )
                    ],
                )
            )
            continue
        if not present:
            continue
        entry = present[0]
        used.add(entry)
        path = entries[entry]
        if path.is_dir():
            parts = _folder_parts(path, entry)
            if isinstance(parts, str):
                report.add(
                    Problem(
                        "error",
                        "bad_folder",
                        name,
                        f"{entry}/",
                        None,
                        1,
                        [Example("", None, parts)],
                    )
                )
                continue
            kind, files = parts
            found.append(Located(name, kind, str(path), f"{entry}/", tuple(files)))
        else:
            kind = _file_kind(entry)
            files_of: tuple[Part, ...] = (Part(path, entry),)
            credits = spec.mapping(name).credits
            if credits is not None:
                wrong = _credits_problem(entries, entry, credits)
                if wrong is not None:
                    report.add(Problem("error", "missing_file", name, credits, None, 1, [wrong]))
                    continue
                used.add(credits)
                files_of += (Part(entries[credits], credits),)
                entry = BESIDE.join((entry, credits))  # each row names its file
            found.append(Located(name, kind, str(path), entry, files_of))
    report.ignored_files = sorted(
        f for f, p in entries.items() if f not in used and not f.startswith(".") and p.is_file()
    )
    return found


def _file_kind(name: str) -> str:
    return "parquet" if name.lower().endswith(".parquet") else "csv"


def _credits_problem(entries: dict[str, Path], invoices: str, credits: str) -> Example | None:
    """What keeps a mapping's file of credit notes from being read with its invoices."""
    if credits not in entries or not entries[credits].is_file():
        return Example(
            "", None, f"the mapping reads credit notes from {credits!r}, which is not in the folder"
        )
    if _file_kind(credits) != _file_kind(invoices):
        return Example(
            "",
            None,
            f"the credit notes in {credits} and the invoices in {invoices} are files of two "
            "kinds; export both as CSV or both as Parquet",
        )
    return None


def connect_database(spec: SourceSpec) -> Any:
    assert spec.database is not None
    url = spec.database.url
    try:
        if database_file(url) is not None and url.startswith("duckdb:"):
            con = ibis.connect(url, read_only=True)  # read a source, never write to it
            # In this process, beside the loader's own engine: it sorts the rows it hands
            # over, and without a limit sorted a year of usage in 10 GB of memory.
            limit(con)
            return con
        return ibis.connect(url)
    except Exception as exc:  # any driver's connection error is the user's to fix
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{spec.label}: cannot connect to the database ({first})",
            fix="check database.url, and that the server is running and reachable",
        ) from None


def discover_database(spec: SourceSpec, con: Any, report: Report) -> list[Located]:
    assert spec.database is not None
    schema = spec.database.schema_
    names = _table_names(con, schema)
    found = []
    for name in TABLES:
        mapped = spec.mapping(name).source
        wanted = mapped or name
        if wanted in names:
            found.append(Located(name, "database", wanted, f"table {wanted}"))
        elif mapped:
            where = f"schema {schema}" if schema else "the database"
            report.add(
                Problem(
                    "error",
                    "missing_table",
                    name,
                    f"table {mapped}",
                    None,
                    1,
                    [
                        Example(
                            "",
                            None,
                            f"the mapping reads {name} from table {mapped!r}, which is not in "
                            f"{where}; its tables are {_some(sorted(names))}",
                        )
                    ],
                )
            )
    return found


def _some(names: list[str], limit: int = 10) -> str:
    """``a, b, c`` or ``a, b, … (12 in all)``: a list short enough for one message."""
    if not names:
        return "none"
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", … ({len(names)} in all)"


def _table_names(con: Any, schema: str | None) -> set[str]:
    """The tables and views of a database schema (the connection's default when None)."""
    if con.name == "duckdb":
        # ibis 12's DuckDB list_tables calls fetch_arrow_table, which DuckDB 2 removed.
        cursor = con.raw_sql(
            "select table_name from information_schema.tables "
            "where table_catalog = current_database() "
            "and table_schema = coalesce(?, current_schema())",
            parameters=[schema],
        )
        return {row[0] for row in cursor.fetchall()}
    return set(con.list_tables(database=schema) if schema else con.list_tables())


def database_of(con: Any, schema: str | None) -> Any:
    """ibis's ``database=`` for a schema: in DuckDB with its catalog, as the file's name and a
    schema's may be the same (crm.duckdb holding schema crm)."""
    if schema is None:
        return None
    return (con.current_catalog, schema) if con.name == "duckdb" else schema

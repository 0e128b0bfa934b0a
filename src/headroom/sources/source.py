"""A source, validated and loaded: typed ibis tables on the engine.

:func:`validate` reads every table, checks it and, only when there is no error, writes the
typed tables into a DuckDB file in the workspace (``.headroom/sources/``) in one step: the file
is built aside and renamed into place, so a source with errors loads nothing and a crash leaves
nothing half-written. The file is reused while the source's files and mapping are unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from headroom.config import settings
from headroom.errors import ConfigError, SourceError
from headroom.sources import incremental
from headroom.sources.config import SourceSpec, database_file, fingerprint, resolve
from headroom.sources.limits import limit
from headroom.sources.progress import SILENT, Progress
from headroom.sources.read_csv import stage_csv
from headroom.sources.read_typed import stage_database, stage_parquet
from headroom.sources.readers import (
    LINE,
    PART,
    STAGE,
    Part,
    RawTable,
    ReadFailedError,
    literal,
    quoted,
)
from headroom.sources.report import Example, Problem, Report, TableInfo
from headroom.sources.schema import REQUIRED_TABLES, STORAGE_TYPE, TABLES
from headroom.sources.validate import Validator, parsed

#: Bumped whenever loading changes, so that old loaded files are not reused.
LOAD_VERSION = "3"


@dataclass(frozen=True)
class Located:
    """Where one table of the source comes from."""

    table: str
    kind: str  # csv | parquet | database
    location: str  # file or folder path, or table name in the database
    label: str  # what messages call it
    #: The files holding it: one, or those of its folder (``usage_daily/*.parquet``).
    parts: tuple[Part, ...] = ()


@dataclass
class Source:
    """A loaded source: its typed tables (every contract table, empty where absent)."""

    name: str
    path: Path
    report: Report
    con: Any  # the ibis backend holding the tables
    #: Tables read with rows added beside the source's own (see :meth:`add_rows`).
    added: dict[str, ir.Table] = field(default_factory=dict)
    #: The first day of each dated table that the computations on this source have read
    #: (None: every row), as they said through :meth:`note_read`.
    reads: dict[str, dt.date | None] = field(default_factory=dict)

    @property
    def window(self) -> dict[str, dt.date]:
        """The dated tables holding only the rows from a day on (a database source read for
        a run), and that day."""
        return {
            name: dt.date.fromisoformat(info.since)
            for name, info in self.report.tables.items()
            if info.since is not None
        }

    def note_read(self, name: str, since: dt.date | None) -> None:
        """Say that a computation reads table ``name`` from ``since`` on (None: every row).

        Kept in :attr:`reads`, which tells what a command needs (its computation run on no
        rows, see :func:`headroom.plays.deciding.reads_of`). Reading before the day a table was
        read from is refused: its earlier rows are not here, and a result computed without
        them would be wrong without a sign.
        """
        if name not in self.reads:
            self.reads[name] = since
        elif (before := self.reads[name]) is not None:
            self.reads[name] = None if since is None else min(before, since)
        first = self.window.get(name)
        if first is not None and (since is None or since < first):
            wanted = "every row" if since is None else f"rows from {since}"
            raise SourceError(
                f"{self.name}: table {name} was read from the database from {first} on, "
                f"but this computation needs {wanted}",
                fix="this is a bug in the reads a signal declares; please report it, and "
                "meanwhile validate the source with headroom validate and run from a folder "
                "export of it",
            )

    def table(self, name: str) -> ir.Table:
        """A contract table as an ibis expression (empty when the source lacks it)."""
        if name in self.added:
            return self.added[name]
        return self.con.table(name)

    def add_rows(self, name: str, rows: pa.Table) -> None:
        """Read ``rows`` as part of table ``name`` from now on (the events the ingest API
        accepted, beside the source's own). Columns ``rows`` lacks are null."""
        base = self.con.table(name)
        if rows.num_rows == 0:
            self.added.pop(name, None)
            return
        extra = self.con.create_table(f"headroom_added_{name}", rows, temp=True, overwrite=True)
        schema = base.schema()
        cols = {
            c: (extra[c] if c in extra.columns else ibis.null()).cast(schema[c])
            for c in base.columns
        }
        self.added[name] = base.union(extra.select(**cols))

    def has(self, name: str) -> bool:
        """Whether the source gave this table (absent tables load empty)."""
        return name in self.report.tables

    def small_table(self, name: str, rows: ir.Table) -> ir.Table:
        """In-memory ``rows`` as a temporary table of the engine (its planner sees its size)."""
        return self.con.create_table(name, rows, temp=True, overwrite=True)

    def cache(self, table: ir.Table) -> ir.Table:
        """``table`` computed once and kept by the engine until ``.release()``."""
        return table.cache()

    def close(self) -> None:
        self.con.disconnect()

    def own(self) -> Source | None:
        """This source on a DuckDB connection of its own (None on another engine), for work
        beside other threads: a DuckDB connection refuses a second query while one runs, and
        the web app serves pages from a thread pool. It is a cursor of the same database, tuned
        alike; it sees the stored tables, not this connection's temporary ones (nor the rows
        :meth:`add_rows` added). Close it after use.
        """
        if getattr(self.con, "name", None) != "duckdb":
            return None
        from headroom.sources.engines import tune  # engines imports this module

        own = ibis.duckdb.from_connection(self.con.con.cursor())
        tune(own)
        return Source(self.name, self.path, self.report, own)


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


def _discover_folder(spec: SourceSpec, report: Report) -> list[Located]:
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
            kind = "parquet" if entry.lower().endswith(".parquet") else "csv"
            found.append(Located(name, kind, str(path), entry, (Part(path, entry),)))
    report.ignored_files = sorted(
        f for f, p in entries.items() if f not in used and not f.startswith(".") and p.is_file()
    )
    return found


def _connect_database(spec: SourceSpec) -> Any:
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


def _discover_database(spec: SourceSpec, con: Any, report: Report) -> list[Located]:
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


def _database_of(con: Any, schema: str | None) -> Any:
    """ibis's ``database=`` for a schema: in DuckDB with its catalog, as the file's name and a
    schema's may be the same (crm.duckdb holding schema crm)."""
    if schema is None:
        return None
    return (con.current_catalog, schema) if con.name == "duckdb" else schema


def _stage_all(
    spec: SourceSpec,
    located: list[Located],
    db: Any,
    con: Any,
    progress: Progress,
    lines: dict[str, int],
    earlier: dict[str, list[str]] | None = None,
    reads: Mapping[str, dt.date | None] | None = None,
) -> tuple[list[RawTable], list[Problem]]:
    """Stage every table in ``con``, streaming; what stops a table from being read is listed,
    and the others are read all the same. ``lines`` gets each CSV file's count of lines;
    ``earlier`` names, per table, the files of its folder loaded before (new days);
    ``reads``, the day a database's dated tables are read from (absent or None: whole)."""
    raws: list[RawTable] = []
    problems: list[Problem] = []
    for loc in located:
        mapping = spec.mapping(loc.table)
        before = (earlier or {}).get(loc.table)
        try:
            if loc.kind == "csv":
                raw, found, counted = stage_csv(
                    con, loc.table, list(loc.parts), loc.label, mapping, progress, before
                )
                lines.update(counted)
            elif loc.kind == "parquet":
                raw = stage_parquet(
                    con, loc.table, list(loc.parts), loc.label, mapping, progress, before
                )
                found = []
            else:
                assert spec.database is not None
                t = db.table(loc.location, database=_database_of(db, spec.database.schema_))
                since = (reads or {}).get(loc.table)
                raw = stage_database(con, loc.table, t, loc.label, mapping, progress, since)
                found = []
        except ReadFailedError as failed:
            problems.extend(failed.problems)
            continue
        except OSError as exc:  # a file that vanished or may not be read
            reason = exc.strerror or type(exc).__name__
            problems.append(
                Problem(
                    "error",
                    "unreadable",
                    loc.table,
                    loc.label,
                    None,
                    1,
                    [Example("", None, f"the file cannot be read ({reason})")],
                )
            )
            continue
        raws.append(raw)
        problems.extend(found)
    return raws, problems


def _typed(table: str, t: ir.Table) -> ir.Table:
    """The loaded form of a checked table: contract types, defaults filled, lines dropped."""
    spec = TABLES[table]
    cols: dict[str, ir.Value] = {}
    for col in spec.columns:
        if col.name in t.columns:
            cols[col.name] = parsed(col, t[col.name]).cast(STORAGE_TYPE[col.kind])
        else:
            cols[col.name] = ibis.null(STORAGE_TYPE[col.kind])
    if table == "accounts":
        cols["timezone"] = cols["timezone"].fill_null("UTC")
    if table == "subscriptions":
        cols["renews_on"] = cols["renews_on"].fill_null(cols["end_date"])
    return t.select(*[c for c in (PART, LINE) if c in t.columns], **cols)


def _combine(table: str, t: ir.Table, how: str) -> ir.Table:
    """``t`` with rows that repeat a key combined as the mapping says (events: the first kept);
    the file order columns dropped."""
    spec = TABLES[table]
    key = list(spec.key)
    order = [c for c in (PART, LINE) if c in t.columns]
    if table == "usage_daily" and how == "sum":
        return t.group_by(key).aggregate(value=t.value.sum())
    if table == "events" or how == "first":
        first = t.mutate(_n=ibis.row_number().over(group_by=key, order_by=order))
        return first.filter(first._n == 0).drop("_n", *order)
    return t.drop(*order)


def _prepare(con: Any, workspace: Path) -> None:
    """The building engine: within the memory limit, spilling to the workspace; timestamps
    without a zone read as UTC."""
    limit(con, workspace)
    con.raw_sql("SET TimeZone = 'UTC'")
    # Tables are stored in the order their ORDER BY gives; nothing else needs arrival order,
    # and keeping it costs memory.
    con.raw_sql("SET preserve_insertion_order = false")


def _drop_staged(con: Any) -> None:
    """The staged rows are temporary: dropped before the file is put in place."""
    for name, kind in con.raw_sql(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = 'temp'"
    ).fetchall():
        what = "VIEW" if kind == "VIEW" else "TABLE"
        con.raw_sql(f"DROP {what} IF EXISTS temp.main.{quoted(name)}")
    con.raw_sql(f"DETACH DATABASE IF EXISTS {STAGE}")


@contextmanager
def _step(progress: Progress, step: str) -> Iterator[None]:
    progress.start(step)
    try:
        yield
    finally:
        progress.finish(step)


def _derived_accounts(subscriptions: ir.Table) -> ir.Table:
    """Accounts for a source without an accounts table: one per subscribed account_id."""
    spec = TABLES["accounts"]
    ids = subscriptions.select("account_id").distinct()
    return ids.select(
        *[
            ids.account_id
            if c.name == "account_id"
            else (
                ibis.literal("UTC") if c.name == "timezone" else ibis.null(STORAGE_TYPE[c.kind])
            ).name(c.name)
            for c in spec.columns
        ]
    ).order_by("account_id")


def _empty(table: str) -> ir.Table:
    spec = TABLES[table]
    schema = ibis.schema({c.name: STORAGE_TYPE[c.kind] for c in spec.columns})
    return ibis.memtable([], schema=schema)


def validate(
    source: Path,
    mapping: Path | None = None,
    *,
    today: dt.date | None = None,
    workspace: Path | None = None,
    reuse: bool = True,
    progress: Progress = SILENT,
    reads: Mapping[str, dt.date | None] | None = None,
) -> tuple[Report, Path | None]:
    """Check a source against the contract; load it when it has no error.

    Returns the report and the path of the loaded DuckDB file (None when there were errors).
    The files are streamed through the engine in bounded memory (``HEADROOM_MEMORY_LIMIT``);
    ``progress`` hears of each step.

    ``reads``: for a database source, the first day of each dated table a command needs
    (:data:`~headroom.sources.read_typed.DATED_BY`; None: all of it). Only those rows are read
    and checked, the database choosing them: a run that needs 90 days of a warehouse's years
    of usage reads 90 days. Files are read whole (and again only as they grow).
    """
    spec = resolve(source, mapping)
    today = today or dt.date.today()
    workspace = workspace or settings().workspace
    report = Report(spec.label)

    db = None
    if spec.database is not None:
        db = _connect_database(spec)
        located = _discover_database(spec, db, report)
        origin = spec.database.url
        key = uuid.uuid4().hex[:20]  # a database can change at any time: never reuse
    else:
        located = _discover_folder(spec, report)
        assert spec.folder is not None
        origin = str(spec.folder.resolve())
        key = fingerprint(spec, [part.path for loc in located for part in loc.parts])
    key = hashlib.sha256(f"{LOAD_VERSION}|{today}|{key}".encode()).hexdigest()[:20]
    prefix = f"{spec.label}-{hashlib.sha256(origin.encode()).hexdigest()[:8]}"
    store = workspace / "sources"
    target = store / f"{prefix}-{key}.duckdb"
    report_file = target.with_suffix(".report.json")
    if reuse and target.exists() and report_file.exists():
        return Report.from_dict(json.loads(report_file.read_text())), target
    store.mkdir(parents=True, exist_ok=True)
    if reuse and spec.folder is not None:
        grown = _growth(spec, located, store, prefix, today)
        if grown is not None:
            return _load_growth(spec, grown, report, today, workspace, target, progress)

    found_tables = {loc.table for loc in located}
    for name in REQUIRED_TABLES:
        if name not in found_tables and not any(p.table == name for p in report.problems):
            where, how = (
                ("in the database", f"a table named {name}")
                if spec.database
                else ("in the folder", f"{name}.csv or {name}.parquet")
            )
            report.add(
                Problem(
                    "error",
                    "missing_table",
                    name,
                    name,
                    None,
                    1,
                    [
                        Example(
                            "",
                            None,
                            f"no {name} table {where}; every source needs one "
                            f"({how}, or map your table onto it)",
                        )
                    ],
                )
            )

    if "accounts" not in found_tables and "subscriptions" in found_tables:
        report.add(
            Problem(
                "warning",
                "accounts_derived",
                "accounts",
                "accounts",
                None,
                1,
                summary="no accounts table: accounts are taken from the subscriptions' account_id",
                hint=(
                    "add accounts.csv for segments, time zones, owners and health; without it "
                    "routing and reports by segment see every account as unknown"
                ),
            )
        )

    with _built(target, workspace) as (building, con):
        lines: dict[str, int] = {}
        raws, problems = _stage_all(spec, located, db, con, progress, lines, reads=reads)
        for p in problems:
            report.add(p)
        if db is not None:
            db.disconnect()
        v = Validator(con, report, today)
        for raw in raws:
            since = raw.since.isoformat() if raw.since else None
            report.tables[raw.name] = TableInfo(
                raw.name, raw.label, raw.rows, raw.ignored_columns, since
            )
            v.register(raw)
            v.combine[raw.name] = spec.mapping(raw.name).combine
        with _step(progress, "check lookups"):
            for raw in raws:
                for ours, lk in spec.mapping(raw.name).lookup.items():
                    v.apply_lookup(raw.name, ours, lk.table, lk.on)
        for name in v.tables:
            with _step(progress, f"check {name}"):
                v.column_checks(name)
                v.key_checks(name)
                v.reference_checks(name)
        with _step(progress, "check across tables"):
            v.subscription_checks()
            v.overlap_checks()
            v.usage_outside_checks()
            v.accounts_without_subscriptions()
        _order(report)
        if not report.ok:
            return report, None
        # subscriptions first (a missing accounts table is derived from it), then accounts
        # (the usage is stored with their keys)
        for name in sorted(TABLES, key=lambda n: (n != "subscriptions", n != "accounts")):
            if name in v.tables:
                loaded = _combine(name, _typed(name, v.tables[name]), v.combine[name])
            elif name == "accounts":
                loaded = _derived_accounts(con.table("subscriptions"))
            else:
                loaded = _empty(name)
            with _step(progress, f"store {name}"):
                con.create_table(name, laid_out(name, loaded, con))
        _drop_staged(con)
        con.disconnect()
        made = incremental.manifest(
            LOAD_VERSION, spec.config_text, today.isoformat(), located, lines
        )
        _put_in_place(building, target, report, made)
        return report, target


_ASIDE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{6}\.(?:building|stage)(?:\.wal)?$")


def _remove_abandoned(folder: Path) -> None:
    """Remove the files of loads whose process is gone (killed mid-way: a staged source can
    be gigabytes). A load still running, by any process alive, is left alone."""
    for path in folder.glob(".*"):
        found = _ASIDE.match(path.name)
        if found is None:
            continue
        try:
            os.kill(int(found.group(1)), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (PermissionError, OverflowError, ValueError):  # alive (another user's), or no pid
            continue


@contextmanager
def _built(
    target: Path, workspace: Path, copy_of: Path | None = None, progress: Progress = SILENT
) -> Iterator[tuple[Path, Any]]:
    """A file built aside (empty, or a copy of ``copy_of``) and an engine on it, set for
    loading; the file is gone afterwards unless it was put in place."""
    _remove_abandoned(target.parent)
    building = target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:6]}.building")
    stage = building.with_suffix(".stage")  # the rows as read, until they are checked
    con = None
    try:
        if copy_of is not None:
            with _step(progress, "copy the loaded source"):
                shutil.copyfile(copy_of, building)
        con = ibis.duckdb.connect(building)
        _prepare(con, workspace)
        con.raw_sql(f"ATTACH {literal(str(stage))} AS {STAGE}")
        yield building, con
    finally:
        if con is not None:
            con.disconnect()
        for path in (building, stage):
            path.unlink(missing_ok=True)
            Path(f"{path}.wal").unlink(missing_ok=True)


def _put_in_place(building: Path, target: Path, report: Report, made: dict[str, Any]) -> None:
    """The built file, its report and its manifest in place; older loads of the source gone."""
    building.replace(target)
    target.with_suffix(".report.json").write_text(json.dumps(report.to_dict()))
    target.with_suffix(".load.json").write_text(json.dumps(made))
    prefix = target.stem.rsplit("-", 1)[0]
    for old in target.parent.glob(f"{prefix}-*.duckdb"):
        if old != target:
            old.unlink(missing_ok=True)
            old.with_suffix(".report.json").unlink(missing_ok=True)
            old.with_suffix(".load.json").unlink(missing_ok=True)


@dataclass
class _Grown:
    """A source that grew by days since ``path`` was loaded."""

    growth: incremental.Growth
    located: list[Located]
    path: Path  # the previous load
    report: Report  # its report


def _growth(
    spec: SourceSpec, located: list[Located], store: Path, prefix: str, today: dt.date
) -> _Grown | None:
    """The previous load of this source, and what is new since, when only days were added."""
    # the loads (with their manifests), not the files made from them (account pages' copies)
    loads = sorted(
        (p for p in store.glob(f"{prefix}-*.duckdb") if p.with_suffix(".load.json").exists()),
        key=lambda p: p.stat().st_mtime_ns,
    )
    if not loads:
        return None
    path = loads[-1]
    previous = incremental.read_manifest(path.with_suffix(".load.json"))
    try:
        old = Report.from_dict(json.loads(path.with_suffix(".report.json").read_text()))
    except (OSError, ValueError, KeyError):
        return None
    mappings = {loc.table: spec.mapping(loc.table) for loc in located}
    grown = incremental.growth(
        previous, old, LOAD_VERSION, spec.config_text, today.isoformat(), located, mappings
    )
    return None if grown is None else _Grown(grown, located, path, old)


def _load_growth(
    spec: SourceSpec,
    grown: _Grown,
    report: Report,
    today: dt.date,
    workspace: Path,
    target: Path,
    progress: Progress,
) -> tuple[Report, Path | None]:
    """Check the new rows only and append them to a copy of the previous load."""
    with _built(target, workspace, grown.path, progress) as (building, con):
        old = grown.report
        report.tables = {n: dataclasses.replace(t) for n, t in old.tables.items()}
        v = Validator(con, report, today, carried=old)
        for name in ("accounts", "subscriptions"):  # what new rows are checked against
            if name in old.tables:
                info = old.tables[name]
                v.raw[name] = RawTable(name, info.file or name, "line", name, info.rows)
                v.tables[name] = con.table(name)
        lines: dict[str, int] = {}
        kinds = {loc.table: loc.kind for loc in grown.located}
        new = [
            Located(name, kinds[name], "", old.tables[name].file or name, tuple(parts))
            for name, parts in grown.growth.new.items()
            if parts
        ]
        raws, problems = _stage_all(spec, new, None, con, progress, lines, grown.growth.earlier)
        for problem in problems:
            report.add(problem)
        for raw in raws:
            name = raw.name
            v.register(raw)
            v.totals[name] = old.tables[name].rows + raw.rows
            report.tables[name].rows += raw.rows
            with _step(progress, f"check {name}"):
                v.column_checks(name)
                v.key_checks(name)
                v.repeats_of_loaded(name, con.table(name))
                v.reference_checks(name)
                if name == "usage_daily":
                    v.usage_outside_checks()
        v.carry_the_rest()
        _order(report)
        if not report.ok:
            return report, None
        for name in grown.growth.new:
            if name not in v.raw or v.raw[name].relation == name:
                continue
            rows = _combine(name, _typed(name, v.tables[name]), "reject")
            if name == "events":  # an event loaded before is kept, as a full load keeps it
                known = con.table("events").select(_e="event_id")
                rows = rows.anti_join(known, rows.event_id == known._e)
            with _step(progress, f"store {name}"):
                con.insert(name, laid_out(name, rows, con))
        _drop_staged(con)
        con.disconnect()
        made = _remade(grown, today, lines)
        _put_in_place(building, target, report, made)
        return report, target


def _remade(grown: _Grown, today: dt.date, lines: dict[str, int]) -> dict[str, Any]:
    """The previous manifest with the files as they are now."""
    made = dict(grown.growth.previous)
    made["today"] = today.isoformat()
    tables = dict(made["tables"])
    for loc in grown.located:
        if loc.table not in grown.growth.new:
            continue
        counted = {p["label"]: p["lines"] for p in tables[loc.table]["parts"]} | lines
        tables[loc.table] = dict(tables[loc.table]) | {
            "parts": [incremental.describe(p, loc.kind, counted.get(p.label)) for p in loc.parts]
        }
    made["tables"] = tables
    return made


#: The column of whole numbers the loader gives the accounts (0 to n - 1, in account_id order),
#: stored in ``accounts`` and in the :data:`KEYED` tables beside ``account_id`` (null where that
#: account is not in ``accounts``). A year of usage is tens of millions of rows: grouped,
#: joined and searched by a whole number instead of its text id, and with no join to find that
#: number, the usage signals of a backtest take a third of the time.
ACCOUNT_KEY = "account_key"
KEYED = ("usage_daily",)


def numbered(accounts: ir.Table) -> ir.Table:
    """``accounts`` with their :data:`ACCOUNT_KEY`."""
    key = ibis.row_number().over(order_by="account_id").cast("int32")
    return accounts.mutate(**{ACCOUNT_KEY: key})


def keyed(t: ir.Table, accounts: ir.Table) -> ir.Table:
    """``t`` with its accounts' :data:`ACCOUNT_KEY` (``accounts`` as :func:`numbered` gives)."""
    keys = accounts.select(_k_account="account_id", **{ACCOUNT_KEY: accounts[ACCOUNT_KEY]})
    j = t.left_join(keys, t.account_id == keys._k_account)
    return j.select(*t.columns, ACCOUNT_KEY)


def laid_out(name: str, t: ir.Table, con: Any) -> ir.Table:
    """Table ``name`` as the loader stores it in ``con`` (accounts numbered, keyed tables with
    their accounts' numbers, the large tables in order); ``accounts`` must be stored first."""
    if name == "accounts":
        t = numbered(t)
    elif name in KEYED:
        t = keyed(t, con.table("accounts"))
    if name in STORED_IN_ORDER:
        t = t.order_by(*STORED_IN_ORDER[name])
    return t


#: The large dated tables are stored in date order (usage: each metric's rows together, in
#: date order). Every run reads the last weeks of them, and signals read a few metrics of the
#: usage; in this order the engine skips the blocks of other rows by their min/max (a 365-day
#: usage table is read in 1/16th of the time), and in any other order it reads them all.
STORED_IN_ORDER = {"usage_daily": ("metric", "date"), "events": ("timestamp",)}


def _order(report: Report) -> None:
    """Errors first, then warnings, each in contract table order, then in file order."""
    order = {name: i for i, name in enumerate(TABLES)}

    def first_line(p: Problem) -> int:
        where = p.examples[0].location if p.examples else ""
        number = re.match(r"(?:line|row) (\d+)", where)
        return int(number.group(1)) if number else 0

    report.problems.sort(
        key=lambda p: (p.severity != "error", order.get(p.table, 99), first_line(p))
    )


def load(
    source: Path,
    mapping: Path | None = None,
    *,
    today: dt.date | None = None,
    workspace: Path | None = None,
    progress: Progress = SILENT,
    reads: Mapping[str, dt.date | None] | None = None,
) -> Source:
    """Validate and load a source; raise :class:`SourceError` with every error when it has any
    (``reads``: what a command needs of a database source's dated tables, see :func:`validate`).

    >>> src = load(Path("examples/data/tiny"))  # doctest: +SKIP
    >>> src.table("subscriptions").count().execute()  # doctest: +SKIP
    3
    """
    report, path = validate(
        source, mapping, today=today, workspace=workspace, progress=progress, reads=reads
    )
    if path is None:
        raise SourceError(report.error_text(), report=report)
    from headroom.sources.engines import duckdb_connection  # engines imports this module

    return Source(report.source, path, report, duckdb_connection(path))


def empty_source() -> Source:
    """A source with every contract table and no rows, in memory: a computation run on it
    tells what it reads (:attr:`Source.reads`) in a moment, whatever the real source's size.

    >>> src = empty_source()
    >>> src.table("usage_daily").count().execute()
    0
    >>> src.close()
    """
    con = ibis.duckdb.connect()
    con.raw_sql("set timezone = 'UTC'")
    report = Report("empty")
    for name in sorted(TABLES, key=lambda n: n != "accounts"):  # keyed tables need accounts
        con.create_table(name, laid_out(name, _empty(name), con))
        report.tables[name] = TableInfo(name, name)  # every table given: every signal computes
    return Source("empty", Path(), report, con)

"""Validating and loading a source: every table streamed into a staging database, checked by
the engine, and only when there is no error written into a DuckDB file in the workspace
(``.headroom/sources/``) in one step: the file is built aside and renamed into place, so a
source with errors loads nothing and a crash leaves nothing half-written. The file is reused
while the source's files and mapping are unchanged; a source that grew by days loads only the
new days (:mod:`headroom.sources.incremental`); a database is read only as far back as a run
needs.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from headroom.config import settings
from headroom.errors import SourceError
from headroom.sources import incremental, rules
from headroom.sources.billing import CONTRACT, Billing, contract_rows
from headroom.sources.cells import parsed
from headroom.sources.config import SourceSpec, fingerprint, resolve
from headroom.sources.currency import converted, currencies
from headroom.sources.discover import (
    Located,
    connect_database,
    database_of,
    discover_database,
    discover_folder,
)
from headroom.sources.engines import duckdb_connection
from headroom.sources.layout import empty_table, laid_out
from headroom.sources.limits import limit
from headroom.sources.progress import SILENT, Progress
from headroom.sources.read_csv import stage_csv
from headroom.sources.read_typed import stage_database, stage_parquet
from headroom.sources.readers import (
    LINE,
    PART,
    STAGE,
    RawTable,
    ReadFailedError,
    literal,
    quoted,
)
from headroom.sources.report import Example, Problem, Report, TableInfo
from headroom.sources.schema import REQUIRED_TABLES, STORAGE_TYPE, TABLES
from headroom.sources.source import Source
from headroom.sources.validate import Validator

#: Bumped whenever loading changes, so that old loaded files are not reused.
LOAD_VERSION = "4"


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
                t = db.table(loc.location, database=database_of(db, spec.database.schema_))
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


def _typed(table: str, t: ir.Table, billing: Billing = CONTRACT) -> ir.Table:
    """The loaded form of a checked table: contract types, defaults filled, lines dropped.

    Subscriptions written as a billing system writes them (``billing``) are turned into the
    contract's: exclusive ends, monthly rates, one-off charges left out.
    """
    spec = TABLES[table]
    cols: dict[str, ir.Value] = {}
    for col in spec.columns:
        if col.name in t.columns:
            cols[col.name] = parsed(col, t[col.name]).cast(STORAGE_TYPE[col.kind])
        else:
            cols[col.name] = ibis.null(STORAGE_TYPE[col.kind])
    if table == "accounts":
        cols["timezone"] = cols["timezone"].fill_null("UTC")
    typed = t.select(*[c for c in (PART, LINE) if c in t.columns], **cols)
    if table == "subscriptions":
        typed = contract_rows(typed, billing)
        typed = typed.mutate(renews_on=typed.renews_on.fill_null(typed.end_date))
    return typed


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


#: The dated facts whose latest day is where the data ends: a period begun or ended, a day of
#: usage, an event.
_DATED = (
    ("subscriptions", "start_date"),
    ("subscriptions", "end_date"),
    ("usage_daily", "date"),
    ("events", "timestamp"),
)


def _data_end(con: Any, spec: SourceSpec, report: Report, today: dt.date) -> None:
    """Record in ``report`` the last day the loaded data covers, unless the mapping says
    (``data_through``): its latest date (:data:`_DATED`), or ``today`` while a subscription row
    is still running (the export is live). An invoice's period end is coverage paid for ahead,
    not something seen: an invoice source ends at its latest invoice."""
    if spec.config.data_through is not None:
        report.data_through = spec.config.data_through.isoformat()
        report.data_through_from = "data_through"
        return
    subscriptions = con.table("subscriptions")
    if con.to_pyarrow(subscriptions.end_date.isnull().any()).as_py():
        report.data_through, report.data_through_from = today.isoformat(), "rows still running"
        return
    per_period = spec.mapping("subscriptions").billing.per_period
    days = []
    for table, column in _DATED:  # one small query each: the engine keeps each column's max
        if per_period and (table, column) == ("subscriptions", "end_date"):
            continue
        value = con.table(table)[column]
        latest = (value.date() if column == "timestamp" else value).max()
        found = con.to_pyarrow(latest).as_py()
        if found is not None:  # a table with no rows has no latest day
            days.append(found)
    report.data_through = max(days).isoformat() if days else None
    report.data_through_from = "latest date" if days else None


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
        db = connect_database(spec)
        located = discover_database(spec, db, report)
        origin = spec.database.url
        key = uuid.uuid4().hex[:20]  # a database can change at any time: never reuse
    else:
        located = discover_folder(spec, report)
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
    # Only days appended to files of the contract's own shape are loaded alone; invoices are
    # read whole again (a new invoice can change the MRR of months already loaded).
    if reuse and spec.folder is not None and spec.mapping("subscriptions").billing == CONTRACT:
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
        v.billing = spec.mapping("subscriptions").billing
        v.mapped = set(spec.config.tables)
        v.currency = spec.config.currency
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
            rules.subscription_checks(v)
            rules.inclusive_end_gaps(v)
            rules.overlap_checks(v)
            rules.usage_outside_checks(v)
            rules.accounts_without_subscriptions(v)
            rules.currency_checks(v)
        _order(report)
        if not report.ok:
            return report, None
        # subscriptions first (a missing accounts table is derived from it), then accounts
        # (the usage is stored with their keys)
        for name in sorted(TABLES, key=lambda n: (n != "subscriptions", n != "accounts")):
            if name in v.tables:
                typed = _typed(name, v.tables[name], v.billing)
                if name == "subscriptions" and "exchange_rates" in v.tables:
                    rates = _typed("exchange_rates", v.tables["exchange_rates"])
                    named = currencies(v.tables[name])
                    reporting = spec.config.currency or (named[0] if named else None)
                    if reporting is not None:
                        typed = converted(typed, rates, reporting)
                loaded = _combine(name, typed, v.combine[name])
            elif name == "accounts":
                loaded = _derived_accounts(con.table("subscriptions"))
            else:
                loaded = empty_table(name)
            with _step(progress, f"store {name}"):
                con.create_table(name, laid_out(name, loaded, con))
        _data_end(con, spec, report, today)
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
                    rules.usage_outside_checks(v)
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
        _data_end(con, spec, report, today)
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
    return Source(report.source, path, report, duckdb_connection(path))

"""Validating and loading a source: every table streamed into a staging database, checked by
the engine, and only when there is no error written into a DuckDB file in the workspace
(``.headroom/sources/``) in one step: the file is built aside and renamed into place, so a
source with errors loads nothing and a crash leaves nothing half-written. The file is reused
while the source's files and mapping are unchanged; a source that grew by days loads only the
new days (:mod:`headroom.sources.incremental`); a database is read only as far back as a run
needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from pathlib import Path

from headroom.config import settings
from headroom.errors import SourceError
from headroom.sources import incremental, rules
from headroom.sources.billing import CONTRACT
from headroom.sources.building import built, drop_staged, order_problems, put_in_place
from headroom.sources.config import fingerprint, resolve
from headroom.sources.discover import connect_database, discover_database, discover_folder
from headroom.sources.engines import duckdb_connection
from headroom.sources.grow import growth, load_growth
from headroom.sources.layout import empty_table, laid_out
from headroom.sources.progress import SILENT, Progress
from headroom.sources.reading import read_as_written
from headroom.sources.report import Example, Problem, Report, TableInfo
from headroom.sources.schema import REQUIRED_TABLES, TABLES
from headroom.sources.source import Source
from headroom.sources.stage import stage_all, step
from headroom.sources.stored import LOAD_VERSION, derived_accounts, record_data_end, stored_table
from headroom.sources.validate import Validator


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
        grown = growth(spec, located, store, prefix, today)
        if grown is not None:
            return load_growth(spec, grown, report, today, workspace, target, progress)

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

    with built(target, workspace) as (building, con):
        lines: dict[str, int] = {}
        raws, problems = stage_all(spec, located, db, con, progress, lines, reads=reads)
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
        with step(progress, "check lookups"):
            for raw in raws:
                read_as_written(v, raw.name, spec.mapping(raw.name))
                for ours, lk in spec.mapping(raw.name).lookup.items():
                    v.apply_lookup(raw.name, ours, lk.table, lk.on)
        for name in v.tables:
            with step(progress, f"check {name}"):
                v.column_checks(name)
                v.key_checks(name)
                v.reference_checks(name)
        with step(progress, "check across tables"):
            rules.subscription_checks(v)
            rules.inclusive_end_gaps(v)
            rules.overlap_checks(v)
            rules.usage_outside_checks(v)
            rules.accounts_without_subscriptions(v)
            rules.currency_checks(v)
        order_problems(report)
        if not report.ok:
            return report, None
        # subscriptions first (a missing accounts table is derived from it), then accounts
        # (the usage is stored with their keys)
        for name in sorted(TABLES, key=lambda n: (n != "subscriptions", n != "accounts")):
            if name in v.tables:
                loaded = stored_table(name, v)
            elif name == "accounts":
                loaded = derived_accounts(con.table("subscriptions"))
            else:
                loaded = empty_table(name)
            with step(progress, f"store {name}"):
                con.create_table(name, laid_out(name, loaded, con))
        record_data_end(con, spec, report, today)
        drop_staged(con)
        con.disconnect()
        made = incremental.manifest(
            LOAD_VERSION, spec.config_text, today.isoformat(), located, lines
        )
        put_in_place(building, target, report, made)
        return report, target


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

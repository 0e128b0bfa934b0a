"""A run on a database source reads only the days it needs, the database choosing them.

The warehouse's dated tables are views that fail on any row older than the run needs: if the
reader fetched one, the database would raise. The run's plays and decisions equal those of the
same data read whole from files. Once on a DuckDB file (always), once on PostgreSQL (skipped
without ``HEADROOM_TEST_DATABASE_URL``, failed in CI without it).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.errors import SourceError
from headroom.generate import Options, generate
from headroom.playbook.model import load_playbook
from headroom.plays.deciding import reads_of
from headroom.signals.registry import types
from headroom.sources import empty_source, load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: The generated tables read whole.
UNDATED = ("accounts", "subscriptions", "plans", "plan_limits", "plan_features", "outcomes",
           "firmographics")  # fmt: skip
END = dt.date(2026, 9, 30)
DAYS = 240


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reads") / "tf"
    generate(folder, Options(accounts=300, days=DAYS, seed=5, parquet=True, end=END))
    return folder


@pytest.fixture
def book(tmp_path: Path) -> Path:
    folder = tmp_path / "teamflow"
    shutil.copytree(EXAMPLES / "teamflow", folder)
    return folder / "playbook.yaml"


def _reads(book: Path) -> dict[str, dt.date | None]:
    return reads_of(load_playbook(book, types()), END)


def _run(source: Path, book: Path) -> dict[str, Any]:
    args = ["run", str(source), "--playbook", str(book), "--as-of", str(END)]
    result = CliRunner().invoke(app, [*args, "--dry-run", "--format", "json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _guarded(name: str, column: str, first: str, columns: list[str]) -> str:
    """A view of table ``<name>_all`` that fails on any row dated before ``first``."""
    cols = ", ".join(
        f"CASE WHEN {column} < {first} THEN CAST(error('read before the window') AS VARCHAR) "
        f"ELSE CAST({c} AS VARCHAR) END AS {c}"
        if c == "account_id"
        else c
        for c in columns
    )
    return f"CREATE VIEW {name} AS SELECT {cols} FROM {name}_all"


def test_the_run_reads_weeks_of_usage_and_events_not_their_history(book: Path) -> None:
    reads = _reads(book)
    usage_from, events_from = reads["usage_daily"], reads["events"]
    # persistence over 14 days, on signals that look back a few days more; event counts
    # over 30 days
    assert usage_from is not None and END - dt.timedelta(days=60) < usage_from < END
    assert events_from == END - dt.timedelta(days=30)
    assert reads["subscriptions"] is None  # small, and tenure reads its whole history


SEATS_ONLY = """\
version: 1
name: Seats only
stage:
  entry: "paying"
triggers:
  - id: seats
    when: "seat_utilisation > 0.85"
    timing: immediately
    owner: csm
    offer: seats
    priority: 1
"""


def test_a_playbook_without_event_signals_reads_no_events(tmp_path: Path) -> None:
    book = tmp_path / "playbook.yaml"
    book.write_text(SEATS_ONLY)
    reads = reads_of(load_playbook(book, types()), END)
    assert reads["events"] == END + dt.timedelta(days=1)  # from the day after: none
    assert reads["usage_daily"] is not None and reads["usage_daily"] > END - dt.timedelta(days=14)


def test_a_duckdb_file_is_read_from_the_first_day_the_run_needs(
    generated: Path, book: Path, tmp_path: Path, workspace: Path
) -> None:
    reads = _reads(book)
    usage_from, events_from = reads["usage_daily"], reads["events"]
    assert usage_from is not None and events_from is not None
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        for name in UNDATED:
            path = str(generated / f"{name}.parquet")
            con.execute(f"CREATE TABLE {name} AS FROM read_parquet(?)", [path])
        for name, column, first in (
            ("usage_daily", "date", usage_from),
            ("events", "timestamp", events_from),
        ):
            path = str(generated / f"{name}.parquet")
            # a warehouse's times are typed (the generator writes them as ISO text)
            typed = "REPLACE (timestamp::TIMESTAMPTZ AS timestamp)" if name == "events" else ""
            con.execute(f"CREATE TABLE {name}_all AS SELECT * {typed} FROM read_parquet(?)", [path])
            columns = pq.read_schema(path).names
            # a day's margin: the reader asks for a day early (times in other zones)
            edge = f"DATE '{first - dt.timedelta(days=1)}'"
            con.execute(_guarded(name, column, edge, columns))
        total = con.execute("select count(*) from usage_daily_all").fetchone()
        older = con.execute(
            "select count(*) from usage_daily_all where date < ?", [usage_from]
        ).fetchone()
    finally:
        con.close()
    assert total is not None and older is not None and older[0] > total[0] / 3
    config = tmp_path / "warehouse.yaml"
    config.write_text(f"database:\n  url: duckdb:///{warehouse}\n")

    whole = _run(generated, book)
    in_place = _run(config, book)
    assert in_place == whole
    assert len(whole["plays"]) > 5

    (report_file,) = [p for p in (workspace / "sources").glob("warehouse-*.report.json")]
    tables = {t["table"]: t for t in json.loads(report_file.read_text())["tables"]}
    assert tables["usage_daily"]["since"] == str(usage_from)
    assert tables["usage_daily"]["rows"] < total[0] - older[0] + 300 * 4 * 2
    assert "since" not in tables["accounts"]

    # validate reads everything, and so meets the guard
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    assert "read before the window" in result.output, result.output


def test_reading_before_the_window_is_refused_not_silently_short(
    generated: Path, tmp_path: Path
) -> None:
    src = load(generated, reads={"usage_daily": END - dt.timedelta(days=10)})
    try:
        assert src.window == {}  # files are read whole: the window is a database's
    finally:
        src.close()
    empty = empty_source()
    try:
        empty.report.tables["usage_daily"].since = "2026-09-01"
        empty.note_read("usage_daily", dt.date(2026, 9, 1))
        with pytest.raises(SourceError) as err:
            empty.note_read("usage_daily", dt.date(2026, 8, 31))
        assert str(err.value) == (
            "empty: table usage_daily was read from the database from 2026-09-01 on, but this "
            "computation needs rows from 2026-08-31; this is a bug in the reads a signal "
            "declares; please report it, and meanwhile validate the source with headroom "
            "validate and run from a folder export of it"
        )
        with pytest.raises(SourceError):
            empty.note_read("usage_daily", None)
        assert empty.reads == {"usage_daily": None}
    finally:
        empty.close()


#: PostgreSQL's type for each Arrow type the generator writes.
_PG_TYPES = {"string": "text", "date32[day]": "date", "double": "double precision",
             "int64": "bigint", "decimal128(12, 2)": "numeric(12, 2)"}  # fmt: skip


def _to_postgres(con: Any, schema: str, name: str, path: Path, typed: dict[str, str]) -> None:
    """A Parquet file copied into table ``schema.name`` (``typed``: columns' types given)."""
    table = pq.read_table(path)
    columns = {
        f.name: typed.get(f.name) or _PG_TYPES.get(str(f.type), "text") for f in table.schema
    }
    ddl = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    con.execute(f"create table {schema}.{name} ({ddl})")
    quoted = ", ".join(f'"{c}"' for c in columns)
    with con.cursor().copy(f"copy {schema}.{name} ({quoted}) from stdin") as copy:
        for row in table.to_pylist():
            copy.write_row([str(v) if isinstance(v, str) else v for v in row.values()])


def test_postgresql_is_read_from_the_first_day_the_run_needs(
    generated: Path, book: Path, tmp_path: Path, workspace: Path, pg_schema: tuple[str, str, Any]
) -> None:
    url, schema, con = pg_schema
    reads = _reads(book)
    usage_from, events_from = reads["usage_daily"], reads["events"]
    assert usage_from is not None and events_from is not None
    for name in UNDATED:
        _to_postgres(con, schema, name, generated / f"{name}.parquet", {})
    _to_postgres(con, schema, "usage_all", generated / "usage_daily.parquet", {})
    events = generated / "events.parquet"
    _to_postgres(con, schema, "events_all", events, {"timestamp": "timestamptz"})
    # Views that fail on a row older than the run needs (less a day's margin): a division by
    # zero that only a row read can reach, so the planner cannot fold it away.
    for view, table, dated, first, others in (
        ("usage", "usage_all", "date", usage_from, "date, metric, value"),
        ("activity", "events_all", "timestamp", events_from,
         "event_id, user_id, event, timestamp, properties"),
    ):  # fmt: skip
        edge = f"'{first - dt.timedelta(days=1)}'"
        con.execute(
            f"create view {schema}.{view} as select {others}, case when {dated} < {edge} "
            "then (1 / (0 * length(account_id)))::text else account_id end as account_id "
            f"from {schema}.{table}"
        )
    older = con.execute(
        f"select count(*) from {schema}.usage_all where date < %s", [usage_from]
    ).fetchone()
    assert older is not None and older[0] > 100_000
    config = tmp_path / "warehouse.yaml"
    config.write_text(
        f"database:\n  url: {url}\n  schema: {schema}\n"
        "tables:\n  usage_daily: {from: usage}\n  events: {from: activity}\n"
    )

    assert _run(config, book) == _run(generated, book)
    (report_file,) = list((workspace / "sources").glob("warehouse-*.report.json"))
    tables = {t["table"]: t for t in json.loads(report_file.read_text())["tables"]}
    assert tables["usage_daily"]["since"] == str(usage_from)
    assert tables["events"]["since"] == str(events_from)

    # the whole table is what validate reads: the database refuses it here
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code == 1
    assert "table usage: the table cannot be read (division by zero)" in result.output

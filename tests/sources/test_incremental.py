"""A source that grew by days loads only the new days, and gives what a full load gives.

Each test loads a generated TeamFlow source without its last days, adds them the way an export
does (new files in a table's folder, or rows appended to a CSV file), loads again, and compares
every table and the report with a full load of the grown source in a fresh workspace.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from headroom.generate import Options, generate
from headroom.sources import validate
from headroom.sources.schema import TABLES

TODAY = dt.date(2026, 11, 1)
END = dt.date(2026, 9, 30)
NEW_DAYS = 3


class Steps:
    """A progress listener that keeps the names of the steps it hears of."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def start(self, step: str, total: int | None = None, unit: str = "rows") -> None:
        self.names.append(step)

    def advance(self, step: str, amount: int) -> None:
        return None

    def finish(self, step: str) -> None:
        return None


@pytest.fixture(scope="module")
def teamflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("teamflow") / "src"
    generate(out, Options(accounts=150, days=60, seed=3, end=END))
    return out


def _day(t: pa.Table, table: str) -> pa.ChunkedArray:
    if table == "events":
        return pc.utf8_slice_codeunits(t["timestamp"], 0, 10)
    return t["date"]


def _split(source: Path, table: str) -> tuple[pa.Table, list[tuple[str, pa.Table]]]:
    """The table's rows before the last days, and the last days' rows day by day."""
    t = pacsv.read_csv(
        source / f"{table}.csv",
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(
                pacsv.read_csv(source / f"{table}.csv").column_names, pa.string()
            )
        ),
    )
    days = _day(t, table)
    cut = (END - dt.timedelta(days=NEW_DAYS - 1)).isoformat()
    before = t.filter(pc.less(days, cut))
    after = []
    for k in range(NEW_DAYS):
        day = (END - dt.timedelta(days=NEW_DAYS - 1 - k)).isoformat()
        after.append((day, t.filter(pc.equal(days, day))))
    return before, after


def _csv(t: pa.Table, header: bool = True) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(t, sink, pacsv.WriteOptions(include_header=header))
    return bytes(sink.getvalue().to_pybytes())


def _tables(path: Path) -> dict[str, Any]:
    """Every contract table of a loaded file, its rows in one order."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            name: sorted(con.execute(f"select * from {name}").fetchall(), key=repr)
            for name in TABLES
        }
    finally:
        con.close()


def _full(folder: Path, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    report, path = validate(folder, today=TODAY, workspace=tmp_path / "full", reuse=False)
    assert path is not None, report.error_text()
    return report.to_dict(), _tables(path)


def _other_tables(teamflow: Path, folder: Path, skip: tuple[str, ...]) -> None:
    folder.mkdir(parents=True)
    for f in teamflow.glob("*.csv"):
        if f.stem not in skip:
            shutil.copy(f, folder / f.name)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_new_files_in_a_folder_load_alone_and_equal_a_full_load(
    teamflow: Path, tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "grown"
    _other_tables(teamflow, folder, ("usage_daily", "events"))
    later: list[tuple[Path, pa.Table]] = []
    for table in ("usage_daily", "events"):
        (folder / table).mkdir()
        before, after = _split(teamflow, table)
        chunks = [("0000-before", before), *after]
        for i, (day, rows) in enumerate(chunks):
            file = folder / table / f"{day}.{kind}"
            if i == 0:
                _write(file, rows, kind)
            else:
                later.append((file, rows))
    workspace = tmp_path / "ws"
    first, path = validate(folder, today=TODAY, workspace=workspace)
    assert path is not None, first.error_text()
    for file, rows in later:
        _write(file, rows, kind)
    steps = Steps()
    report, grown = validate(folder, today=TODAY, workspace=workspace, progress=steps)
    assert grown is not None and grown != path
    assert "copy the loaded source" in steps.names  # the new days alone were read
    assert not path.exists()  # the previous load is replaced
    full_report, full_tables = _full(folder, tmp_path)
    assert _tables(grown) == full_tables
    assert report.to_dict() == full_report


def _write(file: Path, rows: pa.Table, kind: str) -> None:
    if kind == "csv":
        file.write_bytes(_csv(rows))
    else:
        pq.write_table(rows, file)


def test_rows_appended_to_csv_files_load_alone_and_equal_a_full_load(
    teamflow: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "grown"
    _other_tables(teamflow, folder, ("usage_daily", "events"))
    appended = {}
    for table in ("usage_daily", "events"):
        before, after = _split(teamflow, table)
        (folder / f"{table}.csv").write_bytes(_csv(before))
        appended[table] = b"".join(_csv(rows, header=False) for _, rows in after)
    workspace = tmp_path / "ws"
    _, path = validate(folder, today=TODAY, workspace=workspace)
    assert path is not None
    for table, rows in appended.items():
        with (folder / f"{table}.csv").open("ab") as f:
            f.write(rows)
    steps = Steps()
    report, grown = validate(folder, today=TODAY, workspace=workspace, progress=steps)
    assert grown is not None
    assert "copy the loaded source" in steps.names
    full_report, full_tables = _full(folder, tmp_path)
    assert _tables(grown) == full_tables
    assert report.to_dict() == full_report


def test_bad_appended_rows_are_reported_at_their_lines_and_load_nothing(
    teamflow: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "grown"
    _other_tables(teamflow, folder, ("usage_daily",))
    before, _ = _split(teamflow, "usage_daily")
    (folder / "usage_daily.csv").write_bytes(_csv(before))
    workspace = tmp_path / "ws"
    _, path = validate(folder, today=TODAY, workspace=workspace)
    assert path is not None
    first = before.slice(0, 1).to_pylist()[0]
    lines = before.num_rows + 1
    with (folder / "usage_daily.csv").open("a") as f:
        f.write(f"{first['account_id']},2026-09-30,active_users,-3\n")  # line lines + 1
        f.write(f'"{first["account_id"]}","{first["date"]}","{first["metric"]}",1\n')
    report, grown = validate(folder, today=TODAY, workspace=workspace)
    assert grown is None
    assert [line for p in report.errors for line in p.lines()] == [
        f"usage_daily.csv, line {lines + 1}, column value: '-3' is negative; value must be a "
        "number >= 0 such as 12 or 3.5",
        f"usage_daily.csv, line {lines + 2}: account_id {first['account_id']!r}, date "
        f"{first['date']!r}, metric {first['metric']!r} repeats a row loaded before; "
        "(account_id, date, metric) must be unique",
    ]
    assert path.exists()  # the previous load stays as it was


def test_a_changed_subscription_loads_the_whole_source_again(
    teamflow: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "grown"
    _other_tables(teamflow, folder, ())
    workspace = tmp_path / "ws"
    _, path = validate(folder, today=TODAY, workspace=workspace)
    assert path is not None
    subs = (folder / "subscriptions.csv").read_text().splitlines()
    subs[1] = subs[1].replace(",", ",", 1)  # the same text, written again: a new time
    (folder / "subscriptions.csv").write_text("\n".join(subs) + "\n")
    steps = Steps()
    _, again = validate(folder, today=TODAY, workspace=workspace, progress=steps)
    assert again is not None
    assert "copy the loaded source" not in steps.names
    assert _tables(again) == _full(folder, tmp_path)[1]

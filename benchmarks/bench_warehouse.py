"""A run on a database source: only the days the playbook reads, against the whole table.

Goal (issue: real data at real scale): a database source is read in place, only what a run
needs. A TeamFlow history of 100,000 accounts x 365 days is put into a DuckDB file standing in
for a warehouse (typed columns, times with their zone), named by a source YAML file. Measured
side by side, each a process of its own with its own workspace:

* ``headroom run WAREHOUSE --dry-run``: the run reads usage and events from the first day its
  playbook needs, the database choosing the rows, checks them and decides;
* ``headroom validate WAREHOUSE``: the whole warehouse read and checked, which is what every
  run did before (and what the run did then before deciding).

The rows each read come from the loads' reports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_load import _headroom, _measure, generated

#: The generated Parquet as a warehouse: a DuckDB file with typed tables.
WAREHOUSE = """
import duckdb, sys
from pathlib import Path
src, out = Path(sys.argv[1]), sys.argv[2]
con = duckdb.connect(out)
con.execute("SET memory_limit = '2GB'; SET preserve_insertion_order = false")
con.execute("SET enable_progress_bar = false")
for f in sorted(src.glob("*.parquet")):
    typed = "REPLACE (timestamp::TIMESTAMPTZ AS timestamp)" if f.stem == "events" else ""
    con.execute(f"create table {f.stem} as select * {typed} from '{f}'")
"""


def _rows(workspace: Path) -> dict[str, tuple[int, str | None]]:
    (report,) = (workspace / "sources").glob("*.report.json")
    tables = json.loads(report.read_text())["tables"]
    return {t["table"]: (t["rows"], t.get("since")) for t in tables}


def main(accounts: int = 100_000, days: int = 365) -> None:
    from headroom.generate.options import DEFAULT_END

    book = Path(__file__).resolve().parents[1] / "examples" / "teamflow" / "playbook.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = generated(root / "parquet", accounts, days)
        warehouse = root / "warehouse.duckdb"
        subprocess.run([sys.executable, "-c", WAREHOUSE, str(src), str(warehouse)], check=True)
        shutil.rmtree(src)
        config = root / "warehouse.yaml"
        config.write_text(f"database:\n  url: duckdb:///{warehouse}\n")
        print(f"  TeamFlow {accounts:,} accounts x {days} days in a DuckDB warehouse")

        env = dict(os.environ, HEADROOM_WORKSPACE=str(root / "ws-run"))
        run = _measure(
            _headroom(), "run", str(config), "--playbook", str(book), "--as-of",
            DEFAULT_END.isoformat(), "--dry-run", "--format", "json", env=env,
        )  # fmt: skip
        read = _rows(root / "ws-run")
        env = dict(os.environ, HEADROOM_WORKSPACE=str(root / "ws-whole"))
        whole = _measure(_headroom(), "validate", str(config), env=env)
        everything = _rows(root / "ws-whole")
        for table in ("usage_daily", "events"):
            rows, since = read[table]
            print(
                f"  {table:>11}: the run read {rows:,} rows (from {since}) of "
                f"{everything[table][0]:,}"
            )
        ratio = float(run["seconds"]) / float(whole["seconds"])  # type: ignore[arg-type]
        print(
            f"  headroom run (read, check, decide) {run['seconds']:.1f} s, peak "
            f"{run['peak_mb']:.0f} MB; the whole warehouse read and checked "
            f"{whole['seconds']:.1f} s, peak {whole['peak_mb']:.0f} MB -> {ratio:.2f}x"
        )

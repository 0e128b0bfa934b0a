"""Loading a source the way a user does: ``headroom validate`` on its files, as a whole process.

Goals (issue: real data at real scale), measured side by side in one run on the same files:

* a TeamFlow source of 100,000 accounts x 365 days (about 106 million usage rows) loads from
  Parquet, and from the same tables as CSV, in at most 1.5x the time DuckDB itself takes to
  store them in the loader's layout (accounts numbered, usage keyed and ordered by metric and
  date, events by time) with CREATE TABLE AS under the same memory limit; peak memory of the
  whole process under 4 GB (``HEADROOM_MEMORY_LIMIT``'s default);
* one more day of usage and events, added as new files in the tables' folders, loads in at
  most 5% of the time of loading the source whole.

Every contender is a process of its own (its peak memory is its own); nothing is warm but the
operating system's file cache, which all of them share. The CSV files and the folders are made
from the generated Parquet by DuckDB before anything is timed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from headroom.sources.limits import duckdb_memory_bytes

#: Runs a command and reports its wall time and peak memory (of the command alone).
MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"seconds": time.perf_counter() - t, "code": done.returncode,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "err": done.stderr[-3000:]}))
"""

#: DuckDB alone: the loader's layout by CREATE TABLE AS, under the same limit and spill folder.
DUCKDB = """
import duckdb, sys
src, out, limit, tmp, kind = sys.argv[1:]
con = duckdb.connect(out)
con.execute(f"SET memory_limit = '{limit}'; SET temp_directory = '{tmp}'")
con.execute("SET preserve_insertion_order = false; SET enable_progress_bar = false")
def read(t):
    return f"read_{kind}('{src}/{t}.{kind}')"
con.execute(f"create table accounts as select *, (row_number() over (order by account_id) - 1)"
            f"::int as account_key from {read('accounts')}")
con.execute(f"create table usage_daily as select u.*, a.account_key from {read('usage_daily')} u"
            " left join accounts a using (account_id) order by metric, date")
con.execute(f"create table events as select * from {read('events')} order by timestamp")
for t in ("subscriptions", "plans", "plan_limits", "plan_features", "firmographics", "outcomes"):
    con.execute(f"create table {t} as select * from {read(t)}")
"""

#: The generated Parquet as CSV, and with usage and events as folders: history, and a last day.
PREPARE = """
import duckdb, sys
from pathlib import Path
src, csv, parts, last = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
con = duckdb.connect()
con.execute("SET memory_limit = '2GB'; SET preserve_insertion_order = false")
con.execute("SET enable_progress_bar = false")
csv.mkdir(); parts.mkdir()
for f in sorted(src.glob("*.parquet")):
    con.execute(f"copy (select * from '{f}') to '{csv / (f.stem + '.csv')}' (header)")
    if f.stem in ("usage_daily", "events"):
        (parts / f.stem).mkdir()
        day = "date" if f.stem == "usage_daily" else "cast(timestamp as date)"
        for name, op in (("0-history", "<"), (last, "=")):
            cond = f"{day} {op} date '{last}'"
            con.execute(f"copy (select * from '{f}' where {cond}) "
                        f"to '{parts / f.stem / (name + '.parquet')}'")
    else:
        con.execute(f"copy (select * from '{f}') to '{parts / f.name}'")
"""


def _measure(*command: str, env: dict[str, str] | None = None) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, env=env
    )
    result: dict[str, object] = json.loads(out.stdout)
    if result["code"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result['err']}")
    return result


def _headroom() -> str:
    return str(Path(sys.executable).with_name("headroom"))


def _validate(folder: Path, workspace: Path) -> dict[str, object]:
    import os

    env = dict(os.environ, HEADROOM_WORKSPACE=str(workspace))
    return _measure(_headroom(), "validate", str(folder), "--today", "2026-12-01", env=env)


def main(accounts: int = 100_000, days: int = 365) -> None:
    import datetime as dt

    from headroom.generate.options import DEFAULT_END

    last = DEFAULT_END.isoformat()
    limit = f"{duckdb_memory_bytes() // 2**20}MB"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "parquet"
        subprocess.run(
            [_headroom(), "generate", "teamflow", str(src), "--accounts", str(accounts),
             "--days", str(days), "--seed", "7", "--parquet"],
            check=True, capture_output=True,
        )  # fmt: skip
        for extra in src.iterdir():
            if extra.is_dir():  # the planted truth is not a table
                shutil.rmtree(extra)
        subprocess.run(
            [sys.executable, "-c", PREPARE, str(src), str(root / "csv"), str(root / "parts"),
             last],
            check=True,
        )  # fmt: skip
        usage = sum(1 for _ in (root / "csv" / "usage_daily.csv").open("rb")) - 1
        print(f"  TeamFlow {accounts:,} accounts x {days} days: {usage:,} usage rows")
        print(f"  DuckDB's share of the limit: {limit}; day added: {dt.date.fromisoformat(last)}")
        for kind in ("parquet", "csv"):
            spill = root / "spill"
            spill.mkdir(exist_ok=True)
            base = _measure(
                sys.executable, "-c", DUCKDB, str(root / kind), str(root / f"{kind}.duckdb"),
                limit, str(spill), kind,
            )  # fmt: skip
            ours = _validate(root / kind, root / f"ws-{kind}")
            shutil.rmtree(root / f"ws-{kind}")
            (root / f"{kind}.duckdb").unlink()
            ratio = float(ours["seconds"]) / float(base["seconds"])  # type: ignore[arg-type]
            print(
                f"  {kind:>7}: headroom validate {ours['seconds']:.0f} s, peak "
                f"{ours['peak_mb']:.0f} MB; DuckDB CREATE TABLE AS {base['seconds']:.0f} s, "
                f"peak {base['peak_mb']:.0f} MB -> {ratio:.2f}x (goal <= 1.5x, peak < 4,000 MB)"
            )
        # the folder layout: the history loaded whole, then the last day on its own
        parts = root / "parts"
        held = root / "held"
        held.mkdir()
        for table in ("usage_daily", "events"):
            (held / table).mkdir()
            shutil.move(parts / table / f"{last}.parquet", held / table / f"{last}.parquet")
        full = _validate(parts, root / "ws-parts")
        for table in ("usage_daily", "events"):
            shutil.move(held / table / f"{last}.parquet", parts / table / f"{last}.parquet")
        added = _validate(parts, root / "ws-parts")
        share = float(added["seconds"]) / float(full["seconds"])  # type: ignore[arg-type]
        print(
            f"  one day added: {added['seconds']:.1f} s (peak {added['peak_mb']:.0f} MB) against "
            f"{full['seconds']:.0f} s for the whole source -> {share:.1%} (goal <= 5%)"
        )


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:]])

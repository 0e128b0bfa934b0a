"""One million accounts: ``headroom run``, the backtest, and the same run on Spark.

Goals (issue: scale), on one generated TeamFlow source of 1,000,000 accounts x 90 days (the
generator asks for at least 60 days; the run as of the last day reads the last 30 of them, the
backtest replays all 90):

* ``headroom run`` as a whole process (evaluate, record every decision and play in a fresh
  state store, print them as JSON) within 4 GB of peak memory;
* its decisions within 1.5x the time of a hand-written DuckDB query for the same plays
  (``bench_run.HAND_SQL``), the plays compared before any time is reported;
* the backtest of the 90 days within 8 GB (run with ``HEADROOM_MEMORY_LIMIT`` at that goal:
  at the default 4 GB, DuckDB's 1.9 GB share is too small for its replay at this size);
* the run on a local Spark session firing the same plays as on DuckDB.

Each step runs in a child process of its own, one at a time, so that each peak is its own.
The source is loaded by ``headroom validate`` when it can do so within the memory limit;
otherwise the benchmark says so and starts from the typed-source shortcut of ``bench_run``
(the Parquet files typed and laid out by the loader's own layout function).

``python -m benchmarks scale [ACCOUNTS [DAYS]]`` measures a smaller base; ``HEADROOM_SCALE_DATA``
names a folder to keep the generated source in between runs (it is generated once);
``HEADROOM_SCALE_SKIP_SPARK=1`` leaves the Spark run out (it takes a quarter of an hour). Each
step's result is printed as soon as it is known.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_run import HAND_SQL, PLAYBOOK, build_typed_source

#: The last day of the generated data (the generator ends its histories on it).
AS_OF = "2026-09-30"
#: The peak memory goals, MB.
RUN_GOAL, BACKTEST_GOAL = 4096, 8192
#: Each contender's best of this many (a million accounts' hand-written query takes minutes).
REPEAT = 2

#: ``headroom run`` as the command line runs it, with its source loaded by the shortcut.
CLI_RUN = """
import contextlib, json, sys, time
from pathlib import Path
from benchmarks import peak_mb
from benchmarks.bench_run import typed_source
import headroom.cli.run as cli
from headroom.cli.main import app
folder, playbook, day, out, shortcut = sys.argv[1:6]
if shortcut == "1":  # the loader cannot load this source yet: the typed copy stands in for it
    for name in ("load_source", "load"):  # whichever the command calls
        if hasattr(cli, name):
            setattr(cli, name, lambda source, mapping=None, **_: typed_source(Path(folder)))
t = time.perf_counter()
try:
    with open(out, "w") as f, contextlib.redirect_stdout(f):
        app(["run", folder, "--playbook", playbook, "--as-of", day, "--format", "json"])
except SystemExit as done:  # the command line exits when it is done
    if done.code:
        raise
print(json.dumps({"seconds": time.perf_counter() - t, "peak_mb": peak_mb()}))
"""

#: The decisions alone (what ``bench_run`` compares with the hand-written query).
DECIDE = """
import datetime as dt, json, sys, time
from pathlib import Path
from benchmarks import peak_mb
from benchmarks.bench_run import typed_source
from headroom.playbook.model import load_playbook
from headroom.signals.registry import types
from headroom.sources.engines import on_engine
from headroom.triggers.decisions import History, source_declines
from headroom.triggers.evaluate import evaluate
folder, playbook, day, engine, repeat = sys.argv[1:6]
src = on_engine(typed_source(Path(folder)), engine)
book = load_playbook(Path(playbook), types())
day = dt.date.fromisoformat(day)
seconds, first = float("inf"), None
for _ in range(int(repeat)):
    t = time.perf_counter()
    decisions = evaluate(src, book, day, History(declined_on=source_declines(src, day)))
    seconds = min(seconds, time.perf_counter() - t)
    first = first if first is not None else time.perf_counter() - t
firings = sorted([d.account_id, d.trigger] for d in decisions if d.play is not None)
print(json.dumps({"seconds": seconds, "first": first, "firings": firings,
                  "decisions": len(decisions), "peak_mb": peak_mb()}))
"""

HAND = """
import json, sys, time
from pathlib import Path
from benchmarks import peak_mb
from benchmarks.bench_run import typed_source
src = typed_source(Path(sys.argv[1]))
con = src.con.con  # the DuckDB connection under ibis
seconds = float("inf")
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    rows = con.execute(sys.argv[2]).fetchall()
    seconds = min(seconds, time.perf_counter() - t)
print(json.dumps({"seconds": seconds, "firings": sorted([r[0], r[1]] for r in rows),
                  "peak_mb": peak_mb()}))
"""

BACKTEST = """
import datetime as dt, json, sys, time
from pathlib import Path
from benchmarks import peak_mb
from benchmarks.bench_run import typed_source
from headroom.backtest import backtest
from headroom.playbook.model import load_playbook
from headroom.signals.registry import types
src = typed_source(Path(sys.argv[1]))
book = load_playbook(Path(sys.argv[2]), types())
start, end = (dt.date.fromisoformat(a) for a in sys.argv[3:5])
t = time.perf_counter()
result = backtest(src, book, start, end, int(sys.argv[5]))
print(json.dumps({"seconds": time.perf_counter() - t, "peak_mb": peak_mb(),
                  "fired": result.triggers[-1].fired}))
"""


def _child(script: str, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"a benchmark step failed:\n{out.stderr[-3000:]}")
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _headroom() -> str:
    return str(Path(sys.executable).with_name("headroom"))


def _generate(folder: Path, accounts: int, days: int) -> float:
    """Seconds to generate the source (0 when ``folder`` already holds it)."""
    if (folder / "usage_daily.parquet").exists():
        return 0.0
    t = time.perf_counter()
    subprocess.run(
        [_headroom(), "generate", "teamflow", str(folder), "--accounts", str(accounts),
         "--days", str(days), "--seed", "7", "--parquet"],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - t


def _load(folder: Path, workspace: Path) -> tuple[bool, str]:
    """Load the source: ``headroom validate`` if it succeeds within the memory limit, else the
    typed-source shortcut. Returns (shortcut taken, what happened)."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%M", _headroom(), "validate", str(folder)]
        if Path("/usr/bin/time").exists()
        else [_headroom(), "validate", str(folder)],
        capture_output=True, text=True,
        env={**os.environ, "HEADROOM_WORKSPACE": str(workspace)},
    )  # fmt: skip
    lines = out.stderr.strip().splitlines()
    peak = lines.pop() if lines and lines[-1].isdigit() else None  # /usr/bin/time's, in KB
    if out.returncode == 0:
        note = "loaded by headroom validate" + (
            f" (peak {int(peak) / 1024:,.0f} MB)" if peak else ""
        )
        # The children below read the loaded file itself, by the path they know it by.
        (loaded,) = [
            p
            for p in (workspace / "sources").glob("*.duckdb")
            if p.with_suffix(".load.json").exists()
        ]
        typed = folder / "typed.duckdb"
        typed.unlink(missing_ok=True)
        os.link(loaded, typed)
        return False, note
    if not (folder / "typed.duckdb").exists():
        build_typed_source(folder)
    tail = (lines or ["(no message)"])[-1][:200]
    return True, f"headroom validate could not load it ({tail})"


def _plays(store: Path) -> list[list[str]]:
    """The plays ``headroom run`` recorded, as (account, trigger)."""
    con = sqlite3.connect(store)
    try:
        rows = con.execute("select account_id, trigger from plays").fetchall()
    finally:
        con.close()
    return sorted([a, t] for a, t in rows)


def _differ(name: str, ours: object, theirs: object) -> None:
    mine = {tuple(f) for f in ours}  # type: ignore[attr-defined]
    other = {tuple(f) for f in theirs}  # type: ignore[attr-defined]
    if mine != other:
        raise SystemExit(
            f"the plays differ from {name}: only headroom's {sorted(mine - other)[:5]}, "
            f"only theirs {sorted(other - mine)[:5]}"
        )


def main(accounts: int = 1_000_000, days: int = 90) -> None:
    kept = os.environ.get("HEADROOM_SCALE_DATA")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(kept) if kept else Path(tmp) / "teamflow"
        workspace = Path(tmp) / "workspace"
        env = {"HEADROOM_WORKSPACE": str(workspace)}
        generated = _generate(folder, accounts, days)
        t = time.perf_counter()
        shortcut, how = _load(folder, workspace)
        loading = time.perf_counter() - t
        print(f"{accounts:,} accounts x {days} days of TeamFlow, as of {AS_OF}")
        print(f"  generated in {generated:.0f} s; {how}; ready in {loading:.0f} s", flush=True)
        if shortcut:
            print("  NOTE: this benchmark starts from a shortcut: the source was typed and laid")
            print("  out by bench_run.build_typed_source, not loaded by headroom validate")

        store = Path(tmp) / "state.sqlite"
        cli = _child(
            CLI_RUN, str(folder), str(PLAYBOOK), AS_OF, str(Path(tmp) / "run.json"),
            "1" if shortcut else "0",
            env={**env, "HEADROOM_DATABASE_URL": f"sqlite:///{store}"},
        )  # fmt: skip
        recorded = _plays(store)
        print(f"  headroom run (one process: evaluate, record, print JSON): {len(recorded):,} "
              f"plays, {float(cli['seconds']):.1f} s, peak {float(cli['peak_mb']):,.0f} MB "  # type: ignore[arg-type]
              f"(goal < {RUN_GOAL:,} MB)", flush=True)  # fmt: skip
        ours = _child(DECIDE, str(folder), str(PLAYBOOK), AS_OF, "duckdb", str(REPEAT), env=env)
        hand = _child(HAND, str(folder), HAND_SQL.format(d=AS_OF), str(REPEAT), env=env)
        _differ("the hand-written SQL", ours["firings"], hand["firings"])
        _differ("the recorded run", ours["firings"], recorded)
        o, h = float(ours["seconds"]), float(hand["seconds"])  # type: ignore[arg-type]
        print(f"  decisions: {o:.1f} s (best of {REPEAT}), {int(ours['decisions']):,} of them, "  # type: ignore[call-overload]
              f"against the hand-written DuckDB query's {h:.1f} s: {o / h:.2f}x (goal <= 1.5x); "
              "the same plays", flush=True)  # fmt: skip
        if os.environ.get("HEADROOM_SCALE_SKIP_SPARK"):
            print("  on Spark: skipped (HEADROOM_SCALE_SKIP_SPARK)", flush=True)
        else:
            spark = _child(
                DECIDE, str(folder), str(PLAYBOOK), AS_OF, "spark", "1",
                env={**env, "HEADROOM_SPARK_MEMORY": os.environ.get("HEADROOM_SPARK_MEMORY", "3g")},
            )  # fmt: skip
            _differ("Spark's", ours["firings"], spark["firings"])
            print(f"  on Spark (local[2]): {float(spark['first']):.1f} s including the Parquet "  # type: ignore[arg-type]
                  f"export and the session's start, peak {float(spark['peak_mb']):,.0f} MB "  # type: ignore[arg-type]
                  "(Python side); the same plays as DuckDB", flush=True)  # fmt: skip

        end = dt.date.fromisoformat(AS_OF)
        start = end - dt.timedelta(days=days - 1)
        # The backtest's goal is 8 GB: it runs with that limit (DuckDB takes half of it).
        limit = {"HEADROOM_MEMORY_LIMIT": f"{BACKTEST_GOAL}MB"}
        tested = _child(
            BACKTEST, str(folder), str(PLAYBOOK), str(start), str(end), "90", env={**env, **limit}
        )
        print(f"  backtest {start} to {end} (horizon 90 days, HEADROOM_MEMORY_LIMIT="
              f"{BACKTEST_GOAL}MB): {float(tested['seconds']):.0f} s, "  # type: ignore[arg-type]
              f"peak {float(tested['peak_mb']):,.0f} MB (goal < {BACKTEST_GOAL:,} MB), "  # type: ignore[arg-type]
              f"{int(tested['fired']):,} plays", flush=True)  # type: ignore[call-overload]  # fmt: skip


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))

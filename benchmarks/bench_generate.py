"""TeamFlow generation: 10,000 accounts x 730 days, against writing the same rows from memory.

Goal (issue: foundation): under a minute and well under 4 GB. The ratio to a plain pyarrow CSV
write of a usage table of the same size shows what the simulation itself costs on top of I/O.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
from benchmarks import peak_mb
from pathlib import Path
from headroom.generate import Options, generate
t = time.perf_counter()
s = generate(Path(sys.argv[1]), Options(accounts=int(sys.argv[2]), days=int(sys.argv[3]), seed=7))
print(json.dumps({"seconds": time.perf_counter() - t, "rows": s.rows,
                  "peak_mb": peak_mb()}))
"""

BASELINE = """
import json, sys, time
import numpy as np, pyarrow as pa, pyarrow.csv as csv
n = int(sys.argv[2])
rng = np.random.default_rng(0)
t = time.perf_counter()
ids = pa.array([f"acc_{i:05d}" for i in range(10000)])
with csv.CSVWriter(sys.argv[1], pa.schema([("account_id", pa.string()), ("date", pa.date32()),
        ("metric", pa.string()), ("value", pa.float64())]),
        write_options=csv.WriteOptions(quoting_style="needed")) as w:
    for lo in range(0, n, 3_000_000):
        k = min(3_000_000, n - lo)
        w.write_table(pa.table({
            "account_id": ids.take(pa.array(rng.integers(0, 10000, k))),
            "date": pa.array(rng.integers(19000, 19730, k).astype("int32"), pa.date32()),
            "metric": pa.array(["active_users"] * 4).take(pa.array(rng.integers(0, 4, k))),
            "value": pa.array(np.round(rng.random(k) * 100)),
        }))
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def main(accounts: int = 10_000, days: int = 730) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(Path(tmp) / "tf"), str(accounts), str(days)],
            check=True,
            capture_output=True,
            text=True,
        )
        gen = json.loads(out.stdout)
        rows = sum(gen["rows"].values())
        base = json.loads(
            subprocess.run(
                [sys.executable, "-c", BASELINE, str(Path(tmp) / "b.csv"), str(rows)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
    ratio = gen["seconds"] / base["seconds"]
    print(f"generate teamflow {accounts:,} accounts x {days} days: {rows:,} rows")
    print(
        f"  {gen['seconds']:.1f} s (goal < 60 s), "
        f"peak memory {gen['peak_mb']:,.0f} MB (goal < 4096)"
    )
    print(f"  plain CSV write of as many rows: {base['seconds']:.1f} s; ratio {ratio:.2f}x")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")

"""The learned readiness score on the user's path: their files through ``headroom validate``,
then ``headroom score train`` and a ``headroom run`` of a playbook that reads ``readiness``, each
a whole process, timed with its peak memory, against ``headroom run`` of TeamFlow's own playbook
on the same source.

Goals (issue: a learned readiness score): scoring costs at most 2x a run; training fits in 8 GB.
Training reads every 7th day of the year of examples (neighbouring days are near copies), so
at 100,000 accounts it learns from about 5.2 million account-days, not 36.5 million.

``python -m benchmarks readiness [ACCOUNTS]`` (default 100,000; 540 days of history, so that a
year of examples and the horizon after it fit).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

END = "2026-09-30"
PLAYBOOK = Path(__file__).resolve().parents[1] / "examples" / "teamflow" / "playbook.yaml"
READY = """\
name: readiness
stage:
  entry: "paying and onboarded and health != 'at_risk' and tenure_days >= 30"
triggers:
  - id: ready
    when: "readiness > 0.3"
    owner: csm
    offer: expansion
"""


def _timed(*args: str, env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak MB of one headroom command as a process of its own."""
    headroom = str(Path(sys.executable).with_name("headroom"))
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", headroom, *args],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"headroom {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    seconds, kb = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(kb) / 1024


def main(accounts: int = 100_000, days: int = 540) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder, workspace = Path(tmp) / "teamflow", Path(tmp) / "workspace"
        env = dict(os.environ, HEADROOM_WORKSPACE=str(workspace))
        t = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).with_name("headroom")), "generate", "teamflow", str(folder),
             "--accounts", str(accounts), "--days", str(days), "--end", END, "--parquet"],
            check=True, capture_output=True,
        )  # fmt: skip
        setup = time.perf_counter() - t
        ready = Path(tmp) / "ready.yaml"
        ready.write_text(READY)
        loading = _timed("validate", str(folder), "--today", END, env=env)
        common = ["--as-of", END, "--dry-run", "--format", "json"]
        run = _timed("run", str(folder), "--playbook", str(PLAYBOOK), *common, env=env)
        train = _timed("score", "train", str(folder), "--through", END, env=env)
        scored = _timed("run", str(folder), "--playbook", str(ready), *common, env=env)
    print(f"readiness: TeamFlow, {accounts:,} accounts x {days} days to {END}")
    print(f"  (generated in {setup:.0f} s; headroom validate {loading[0]:.1f} s, "
          f"peak {loading[1]:,.0f} MB)")  # fmt: skip
    print(f"  headroom run, TeamFlow's playbook: {run[0]:.1f} s, peak {run[1]:,.0f} MB")
    print(f"  headroom score train: {train[0]:.1f} s, peak {train[1]:,.0f} MB (goal < 8,192 MB)")
    print(f"  headroom run, readiness > 0.3: {scored[0]:.1f} s, peak {scored[1]:,.0f} MB; "
          f"{scored[0] / run[0]:.2f}x the run (goal <= 2x)")  # fmt: skip


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))

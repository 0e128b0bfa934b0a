"""How long ``headroom`` takes to start: its help, and the fixed cost of a command.

Goals (issue 17, a quick start), each a whole process as a user starts it:

* ``headroom --help`` and ``headroom validate --help`` under 0.3 s;
* the fixed cost of any command under 0.5 s: ``headroom ltv`` computes next to nothing, so its
  time is what every command pays before its own work;
* ``headroom validate`` of a small source (500 accounts x 60 days) shows what a real command
  adds: it imports ibis and DuckDB because it uses them.

Each figure is the best of several runs (this machine's timings wander with its load), and is
also given as a ratio over ``python -c pass`` measured in the same run: the interpreter's own
start, which no headroom change can remove.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HEADROOM = str(Path(sys.executable).with_name("headroom"))


def best_of(argv: Sequence[str], runs: int, cwd: Path | None = None) -> float:
    """The shortest wall time of ``runs`` runs of ``argv``, each a process of its own."""
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=cwd)
        best = min(best, time.perf_counter() - t)
    return best


def main(accounts: int = 500, days: int = 60, runs: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "teamflow"
        subprocess.run(
            [HEADROOM, "generate", "teamflow", str(source), "--accounts", str(accounts),
             "--days", str(days), "--seed", "1"],
            check=True, capture_output=True,
        )  # fmt: skip
        validate = [HEADROOM, "validate", str(source)]
        t = time.perf_counter()  # the first loads the source into the workspace, in tmp
        subprocess.run(validate, check=True, capture_output=True, cwd=tmp)
        first = time.perf_counter() - t
        bare = best_of([sys.executable, "-c", "pass"], runs)
        timings = [
            ("headroom --help", best_of([HEADROOM, "--help"], runs), 0.3),
            ("headroom validate --help", best_of([HEADROOM, "validate", "--help"], runs), 0.3),
            (
                "headroom ltv (the fixed cost)",
                best_of([HEADROOM, "ltv", "--mrr", "500", "--months", "24", "--format", "json"],
                        runs),
                0.5,
            ),
            (f"headroom validate ({accounts:,} accounts)", best_of(validate, runs, Path(tmp)),
             None),
        ]  # fmt: skip
    print(f"headroom's start, best of {runs} runs, as whole processes")
    print(f"  python -c pass (the interpreter alone): {bare:.3f} s")
    for name, seconds, goal in timings:
        aim = "" if goal is None else f" (goal < {goal} s)"
        print(f"  {name}: {seconds:.3f} s{aim}; {seconds / bare:.1f}x the bare interpreter")
    print(f"  (the first validate, which loads the source: {first:.2f} s)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))

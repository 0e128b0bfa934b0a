"""Run the benchmarks named on the command line (all when none is named)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from benchmarks import bench_backtest, bench_generate, bench_revenue, bench_run

BENCHMARKS: dict[str, Callable[[], None]] = {
    "generate": bench_generate.main,
    "revenue": bench_revenue.main,
    "run": bench_run.main,
    "backtest": bench_backtest.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
        return 1
    for name in names:
        print(f"== {name}")
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run the benchmarks named on the command line (all when none is named); a number after a
name is passed to it (``python -m benchmarks backtest 20000``: its number of accounts)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from benchmarks import (
    bench_backtest,
    bench_ceiling,
    bench_generate,
    bench_load,
    bench_readiness,
    bench_revenue,
    bench_run,
    bench_scale,
    bench_startup,
    bench_warehouse,
    bench_web,
)

BENCHMARKS: dict[str, Callable[..., None]] = {
    "startup": bench_startup.main,
    "generate": bench_generate.main,
    "load": bench_load.main,
    "revenue": bench_revenue.main,
    "run": bench_run.main,
    "backtest": bench_backtest.main,
    "web": bench_web.main,
    "scale": bench_scale.main,
    "readiness": bench_readiness.main,
    "ceiling": bench_ceiling.main,
    "warehouse": bench_warehouse.main,
    "metrics": bench_web.metrics_main,
}


def main(argv: list[str]) -> int:
    runs: list[tuple[str, list[int]]] = []
    for arg in argv:
        if arg.isdigit() and runs:
            runs[-1][1].append(int(arg))
        elif arg in BENCHMARKS:
            runs.append((arg, []))
        else:
            print(f"unknown benchmark {arg!r}; choose from {', '.join(BENCHMARKS)}")
            return 1
    for name, args in runs or [(n, []) for n in BENCHMARKS]:
        print(f"== {name}")
        BENCHMARKS[name](*args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Synthetic sources with a known truth, for demos, tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from headroom.generate.options import Options, Summary

__all__ = ["Options", "Summary", "generate"]


def generate(
    out: Path,
    options: Options | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """:func:`headroom.generate.teamflow.generate`, loaded on first use: numpy and pyarrow
    take a while to import, and the command line imports this package to start."""
    from headroom.generate import teamflow

    return teamflow.generate(out, options, progress)

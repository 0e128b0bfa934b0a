"""Synthetic sources with a known truth, for demos, tests and benchmarks."""

from headroom.generate.teamflow import Options, Summary, generate

__all__ = ["Options", "Summary", "generate"]

"""--engine spark: the same playbook gives the same decisions and plays as DuckDB."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headroom.playbook.model import load_playbook
from headroom.signals.registry import types
from headroom.sources import load
from headroom.sources.engines import on_engine
from headroom.triggers.decisions import Decision, History
from headroom.triggers.evaluate import evaluate
from tests import parts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def comparable(decision: Decision) -> Any:
    """A decision with its evidence's floats rounded: engines may sum in another order."""
    if decision.play is None:
        return decision
    evidence = {
        k: round(v, 6) if isinstance(v, float) else v for k, v in decision.play.evidence.items()
    }
    return dataclasses.replace(decision, play=dataclasses.replace(decision.play, evidence=evidence))


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
@pytest.mark.parametrize("example", ["teamflow", "trigger-types"])
def test_example_decisions_are_identical_on_spark(
    teamflow: Callable[..., Path], example: str
) -> None:
    parts.spark()
    source = load(teamflow(accounts=300, days=200, seed=4), today=dt.date(2026, 10, 1))
    book = load_playbook(EXAMPLES / example / "playbook.yaml", types())
    as_of = dt.date(2026, 9, 30)
    try:
        on_duckdb = evaluate(source, book, as_of, History())
        on_spark = evaluate(on_engine(source, "spark"), book, as_of, History())
    finally:
        source.close()
    fired = {d.trigger for d in on_duckdb if d.play}
    assert len([d for d in on_duckdb if d.play]) > 10
    assert len(fired) >= 3, fired
    assert [comparable(d) for d in on_spark] == [comparable(d) for d in on_duckdb]


def _run(folder: Path, workspace: Path, **env: str) -> Any:
    """``headroom run --dry-run --format json`` of the TeamFlow playbook, in a process."""
    out = subprocess.run(
        [str(Path(sys.executable).with_name("headroom")), "run", str(folder), "--playbook",
         str(EXAMPLES / "teamflow" / "playbook.yaml"), "--as-of", "2026-09-30", "--dry-run",
         "--format", "json", *(["--engine", "spark"] if env else [])],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "HEADROOM_WORKSPACE": str(workspace), **env},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    plays = json.loads(out.stdout)["plays"]
    for p in plays:  # engines may sum in another order
        p["evidence"] = {
            k: round(v, 6) if isinstance(v, float) else v for k, v in p["evidence"].items()
        }
    return sorted(plays, key=lambda p: (p["account_id"], p["trigger"]))


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_a_run_over_spark_connect_fires_the_same_plays(
    tmp_path: Path, teamflow: Callable[..., Path]
) -> None:
    """A real remote engine: PySpark starts a Spark Connect server (``remote("local")``) and
    headroom computes over gRPC through it, as it would against a cluster's server."""
    parts.spark()
    if importlib.util.find_spec("grpc") is None:
        pytest.skip(
            "PySpark's Spark Connect client is not installed: pip install 'pyspark[connect]'"
        )
    folder = teamflow(accounts=300, days=200, seed=4)
    on_duckdb = _run(folder, tmp_path / "ws")
    remote = _run(folder, tmp_path / "ws", HEADROOM_SPARK_REMOTE="local[2]")
    assert len(on_duckdb) > 10
    assert remote == on_duckdb

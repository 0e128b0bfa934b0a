"""``headroom backtest`` keeps each backtest in the state store: what it printed is what the
web app reads back (the scores, by horizon, and a sweep when one was asked)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headroom.config import settings
from headroom.plays import runs
from headroom.store.database import Store
from tests.sources.helpers import headroom

TEAMFLOW = str(Path(__file__).resolve().parents[2] / "examples" / "teamflow" / "playbook.yaml")
RANGE = ["--start", "2026-04-01", "--end", "2026-04-30", "--horizon-days", "30"]


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    monkeypatch.setenv("HEADROOM_DATABASE_URL", url)
    settings.cache_clear()
    yield url


def kept(url: str) -> list[runs.RunInfo]:
    store = Store(url)
    try:
        listed, _ = runs.list_runs(store)
        return [runs.get_run(store, r.id) for r in listed]
    finally:
        store.close()


def test_a_backtest_is_kept_as_it_was_printed(history: Path, store_url: str) -> None:
    out = headroom("backtest", str(history), "--playbook", TEAMFLOW, *RANGE, "--format", "json")
    assert out.code == 0, out.err
    printed: dict[str, Any] = out.json()
    [run] = kept(store_url)
    assert (run.kind, run.status, run.started_by) == ("backtest", "finished", "cli")
    assert run.sweep is None and run.source == history.name
    assert (str(run.start), str(run.end), run.horizon_days) == ("2026-04-01", "2026-04-30", 30)
    assert run.result == printed  # by_horizon and by_segment included
    assert run.plays_fired == printed["triggers"][-1]["fired"] > 0  # all triggers together
    assert run.playbook_version == hashlib.sha256(Path(TEAMFLOW).read_bytes()).hexdigest()[:12]


def test_a_sweep_is_kept_with_its_rows(history: Path, store_url: str) -> None:
    sweep = "seat_expansion_proactive.threshold=0.8:0.9:0.1"
    out = headroom("backtest", str(history), "--playbook", TEAMFLOW, *RANGE, "--sweep", sweep,
                   "--format", "json")  # fmt: skip
    assert out.code == 0, out.err
    printed = out.json()
    [run] = kept(store_url)
    assert run.sweep == sweep
    # kept as the web app keeps a sweep: the scores it is compared with, and its rows
    assert run.result is not None
    assert run.result["sweep"] == {
        "trigger": printed["trigger"], "number": printed["number"], "rows": printed["rows"]
    }  # fmt: skip
    whole = headroom("backtest", str(history), "--playbook", TEAMFLOW, *RANGE, "--format",
                     "json").json()  # fmt: skip
    assert {k: v for k, v in run.result.items() if k != "sweep"} == whole
    assert run.plays_fired == whole["triggers"][-1]["fired"] > 0
    assert [r["threshold"] for r in printed["rows"]] == [0.8, 0.9]


def test_a_backtest_that_cannot_run_is_kept_as_failed(history: Path, store_url: str) -> None:
    out = headroom("backtest", str(history), "--playbook", TEAMFLOW, "--start", "2026-04-01",
                   "--end", "2026-04-30", "--horizon-days", "0")  # fmt: skip
    assert (out.code, out.err) == (
        1, "error: --horizon-days 0 is not a positive number; use e.g. 90\n"
    )  # fmt: skip
    [run] = kept(store_url)
    assert (run.status, run.error, run.result) == (
        "failed", "--horizon-days 0 is not a positive number; use e.g. 90", None
    )  # fmt: skip

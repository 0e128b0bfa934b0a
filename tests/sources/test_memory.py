"""A source larger than the memory headroom may use loads all the same, spilling to disk; one
that cannot fit at all gets a clear error and loads nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from headroom.config import settings
from headroom.sources import load
from headroom.sources.limits import duckdb_mb
from tests.sources.helpers import loaded_files, validate

METRICS = ("active_users", "power_users", "api_calls", "storage_gb")


def _source(folder: Path, accounts: int, days: int) -> int:
    """Accounts with a subscription each and a usage row per account, day and metric; returns
    the size of the usage file in bytes."""
    folder.mkdir(parents=True)
    ids = pa.array([f"acc_{i:05d}" for i in range(accounts)])
    pacsv.write_csv(pa.table({"account_id": ids}), folder / "accounts.csv")
    subs = {
        "subscription_id": pa.array([f"s{i}" for i in range(accounts)]),
        "account_id": ids,
        "start_date": pa.array(["2025-01-01"] * accounts),
        "mrr": pa.array(["100"] * accounts),
    }
    pacsv.write_csv(pa.table(subs), folder / "subscriptions.csv")
    n = accounts * days * len(METRICS)
    i = np.arange(n)
    day = (np.datetime64("2025-01-01") + i // (accounts * len(METRICS))).astype(str)
    usage = pa.table(
        {
            "account_id": ids.take(pa.array(i % accounts)),
            "date": pa.array(day),
            "metric": pa.array(METRICS).take(pa.array(i // accounts % len(METRICS))),
            "value": pa.array((i % 97).astype(float)),
        }
    )
    pacsv.write_csv(usage, folder / "usage_daily.csv")
    return (folder / "usage_daily.csv").stat().st_size


@pytest.mark.slow
def test_a_source_many_times_larger_than_the_limit_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = _source(tmp_path / "big", accounts=4000, days=365)
    monkeypatch.setenv("HEADROOM_MEMORY_LIMIT", "120MB")  # DuckDB: 57 MiB
    settings.cache_clear()
    assert size > 4 * duckdb_mb() * 2**20  # the usage file alone is over 4x DuckDB's share
    run = validate(tmp_path / "big")
    assert run.code == 0, run.err
    assert "  usage_daily    usage_daily.csv                         5,840,000 rows" in run.out
    src = load(tmp_path / "big")
    try:
        usage = src.table("usage_daily")
        assert usage.count().execute() == 5_840_000
        assert usage.value.sum().execute() == pytest.approx(sum(k % 97 for k in range(5_840_000)))
        limit = src.con.raw_sql("select current_setting('memory_limit')").fetchall()[0][0]
        assert limit == f"{duckdb_mb()}.0 MiB"  # runs on it keep to the limit too
    finally:
        src.close()


def test_a_source_that_cannot_fit_gets_a_clear_error_and_loads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workspace: Path
) -> None:
    # Names of 10 MB each: a block of the engine holds whole values, and a dozen of them
    # cannot be in 32 MB at once when the table is committed.
    big = tmp_path / "big"
    big.mkdir()
    names = "".join(f"a{i},{'x' * (10 << 20)}\n" for i in range(12))
    (big / "accounts.csv").write_text("account_id,name\n" + names)
    subs = "".join(f"s{i},a{i},2025-01-01,100\n" for i in range(12))
    (big / "subscriptions.csv").write_text("subscription_id,account_id,start_date,mrr\n" + subs)
    monkeypatch.setenv("HEADROOM_MEMORY_LIMIT", "1MB")  # DuckDB's floor: 32 MB
    settings.cache_clear()
    run = validate(tmp_path / "big")
    assert run.code == 1
    assert run.err == (
        "error: the work needed more memory than HEADROOM_MEMORY_LIMIT=1MB allows (DuckDB's "
        "share is 32 MB, and it could not spill more to disk); raise HEADROOM_MEMORY_LIMIT (e.g. "
        "HEADROOM_MEMORY_LIMIT=8GB), and keep free disk space in the workspace for what is "
        "spilled\n"
    )
    assert loaded_files(workspace) == []


def test_a_limit_that_is_not_a_size_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _source(tmp_path / "small", accounts=2, days=1)
    monkeypatch.setenv("HEADROOM_MEMORY_LIMIT", "plenty")
    settings.cache_clear()
    run = validate(tmp_path / "small")
    assert run.code == 1
    assert run.err == (
        "error: HEADROOM_MEMORY_LIMIT: 'plenty' is not a size (a number and a unit, e.g. 4GB "
        "or 512MB); set HEADROOM_MEMORY_LIMIT again, or unset it\n"
    )


def test_a_load_killed_mid_way_leaves_nothing_the_next_load_keeps(
    tmp_path: Path, workspace: Path
) -> None:
    """kill -9 during a load leaves its files aside (the staged rows can be gigabytes); the
    next load removes them, since their process is gone, and loads the source whole."""
    import os
    import signal
    import subprocess
    import sys
    import time

    _source(tmp_path / "big", accounts=2000, days=120)
    env = dict(os.environ, HEADROOM_WORKSPACE=str(workspace))
    headroom = str(Path(sys.executable).with_name("headroom"))
    child = subprocess.Popen([headroom, "validate", str(tmp_path / "big")], env=env)
    sources = workspace / "sources"
    deadline = time.monotonic() + 120
    while not list(sources.glob(".*.stage")) and time.monotonic() < deadline:
        assert child.poll() is None, "the load ended before it could be killed"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = list(sources.glob(".*"))
    assert left and all(".building" in p.name or ".stage" in p.name for p in left)
    run = validate(tmp_path / "big")
    assert run.code == 0, run.err
    assert list(sources.glob(".*")) == []  # the killed load's files are gone
    assert len(loaded_files(workspace)) == 1

"""``headroom run`` keeps each run it records (and the playbook's version) in the state store,
its output unchanged; a dry run and a repeated day keep nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.errors import ConfigError
from headroom.plays import runs
from headroom.plays.store import Store
from tests.triggers import test_run as scenario


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    settings.cache_clear()
    book = tmp_path / "playbook.yaml"
    book.write_text(scenario.PLAYBOOK.format(eligible="true"))
    return {"source": scenario.write_source(tmp_path / "src"), "playbook": book}


def kept() -> tuple[list[runs.RunInfo], list[runs.VersionInfo]]:
    store = Store()
    try:
        listed, _ = runs.list_runs(store)
        return [runs.get_run(store, r.id) for r in listed], runs.versions(store)
    finally:
        store.close()


def test_a_run_is_kept_with_its_counts_and_the_playbooks_text(env: dict[str, Path]) -> None:
    body = scenario.run(env, "2026-03-26")
    assert set(body) == {"as_of", "plays", "decisions"}  # the printed contract as it was
    [run], [version] = kept()
    assert (run.kind, run.status, run.as_of.isoformat() if run.as_of else None) == (
        "run", "finished", "2026-03-26"
    )  # fmt: skip
    assert (run.plays_fired, run.decisions) == (len(body["plays"]), len(body["decisions"]))
    assert run.plays_fired == 1 and run.decisions == 2
    assert run.result == {
        "as_of": "2026-03-26",
        "triggers": [
            {"trigger": "seat_expansion_proactive", "fired": 1, "skipped": {"suppressed": 1}}
        ],
    }
    assert run.playbook_version == body["plays"][0]["playbook_version"] == version.version
    assert (version.name, version.file_name, version.runs, version.plays) == (
        "seats", "playbook.yaml", 1, 1
    )  # fmt: skip
    store = Store()
    try:
        assert runs.get_version(store, version.version).text == env["playbook"].read_text()
    finally:
        store.close()


def test_the_table_output_is_unchanged(env: dict[str, Path]) -> None:
    result = CliRunner().invoke(
        app, ["run", str(env["source"]), "--playbook", str(env["playbook"]), "--as-of",
              "2026-03-26"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "as of 2026-03-26: 1 plays fired, 2 decisions"


def test_a_dry_run_and_a_repeated_day_keep_nothing(env: dict[str, Path]) -> None:
    scenario.run(env, "2026-03-26", "--dry-run")
    assert kept() == ([], [])
    scenario.run(env, "2026-03-26")
    again = scenario.run(env, "2026-03-26")  # recorded earlier: reported, not run again
    assert len(again["plays"]) == 1
    listed, versions = kept()
    assert len(listed) == 1 and len(versions) == 1


def test_a_run_that_fails_is_kept_as_failed(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> None:
        raise ConfigError("playbook.yaml:7:5: signal 'seats' has no values", fix="load seats")

    monkeypatch.setattr(runs, "decide", broken)
    result = CliRunner().invoke(
        app, ["run", str(env["source"]), "--playbook", str(env["playbook"]), "--as-of",
              "2026-03-26", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == "error: playbook.yaml:7:5: signal 'seats' has no values; load seats\n"
    [run], _ = kept()
    assert (run.status, run.error, run.plays_fired) == (
        "failed", "playbook.yaml:7:5: signal 'seats' has no values; load seats", None
    )  # fmt: skip
    assert run.result is None

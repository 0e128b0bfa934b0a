"""The shipped TeamFlow playbook checks clean and fires every trigger on generated data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.generate import Options, generate

PLAYBOOK = Path(__file__).resolve().parents[2] / "examples" / "teamflow" / "playbook.yaml"
TRIGGERS = {
    "seat_expansion_urgent",
    "seat_expansion_proactive",
    "tier_upgrade_feature_interest",
    "tier_upgrade_usage",
    "enterprise_expansion",
}


def test_teamflow_playbook_on_generated_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    settings.cache_clear()
    generate(tmp_path / "tf", Options(accounts=1500, days=200, seed=4))
    runner = CliRunner()
    checked = runner.invoke(app, ["check", str(PLAYBOOK), str(tmp_path / "tf"), "--format", "json"])
    assert checked.exit_code == 0, checked.output
    body = json.loads(checked.stdout)
    assert {t["trigger"] for t in body["triggers"]} == TRIGGERS
    assert body["signals_the_source_cannot_feed"] == {}

    result = runner.invoke(
        app, ["run", str(tmp_path / "tf"), "--playbook", str(PLAYBOOK), "--as-of", "2026-09-30",
              "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fired = Counter(p["trigger"] for p in json.loads(result.stdout)["plays"])
    assert set(fired) == TRIGGERS, fired

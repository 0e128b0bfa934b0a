"""The shipped example playbooks check clean and fire every trigger on generated data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.generate import Options, generate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRIGGERS = {
    "teamflow": {
        "seat_expansion_urgent",
        "seat_expansion_proactive",
        "tier_upgrade_feature_interest",
        "tier_upgrade_usage",
        "enterprise_expansion",
    },
    # the product brief's trigger-types table, with its ids
    "trigger-types": {
        "usage_ceiling",
        "usage_trend_early_warning",
        "seat_capacity",
        "feature_unlock",
        "contract_anniversary",
    },
}


@pytest.mark.parametrize("example", sorted(TRIGGERS))
def test_example_playbook_on_generated_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example: str
) -> None:
    playbook = EXAMPLES / example / "playbook.yaml"
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    settings.cache_clear()
    generate(tmp_path / "tf", Options(accounts=2000, days=400, seed=4))
    runner = CliRunner()
    checked = runner.invoke(app, ["check", str(playbook), str(tmp_path / "tf"), "--format", "json"])
    assert checked.exit_code == 0, checked.output
    body = json.loads(checked.stdout)
    assert {t["trigger"] for t in body["triggers"]} == TRIGGERS[example]
    assert body["signals_the_source_cannot_feed"] == {}
    table = runner.invoke(app, ["check", str(playbook)])
    for trigger in TRIGGERS[example]:  # whole ids, however long the conditions
        assert f"│ {trigger} " in table.stdout

    result = runner.invoke(
        app, ["run", str(tmp_path / "tf"), "--playbook", str(playbook), "--as-of", "2026-09-30",
              "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fired = Counter(p["trigger"] for p in json.loads(result.stdout)["plays"])
    assert set(fired) == TRIGGERS[example], fired

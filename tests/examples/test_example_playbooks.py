"""The shipped example playbooks check clean and fire every trigger on generated data."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings

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
    teamflow: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example: str
) -> None:
    playbook = EXAMPLES / example / "playbook.yaml"
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    settings.cache_clear()
    folder = teamflow(accounts=2000, days=400, seed=4)
    runner = CliRunner()
    checked = runner.invoke(app, ["check", str(playbook), str(folder), "--format", "json"])
    assert checked.exit_code == 0, checked.output
    body = json.loads(checked.stdout)
    assert {t["trigger"] for t in body["triggers"]} == TRIGGERS[example]
    assert body["signals_the_source_cannot_feed"] == {}
    table = runner.invoke(app, ["check", str(playbook)])
    for trigger in TRIGGERS[example]:  # whole ids, however long the conditions
        assert f"│ {trigger} " in table.stdout

    result = runner.invoke(
        app, ["run", str(folder), "--playbook", str(playbook), "--as-of", "2026-09-30",
              "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fired = Counter(p["trigger"] for p in json.loads(result.stdout)["plays"])
    assert set(fired) == TRIGGERS[example], fired


def test_the_early_warning_fires_on_a_source_whatever_its_metrics_are_called(
    teamflow: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The early warning named TeamFlow's metrics and never fired where the metered metric
    was api_calls. Written over the metric nearest its limit, it fires for the same accounts
    when every metric is renamed."""
    playbook = EXAMPLES / "trigger-types" / "playbook.yaml"
    folder = teamflow(accounts=2000, days=400, seed=4)
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    names = {"automation_runs": "api_calls", "storage_gb": "stored_bytes"}
    for f in (folder).glob("*.csv"):
        text = f.read_text()
        for old, new in names.items():
            text = text.replace(old, new)
        (renamed / f.name).write_text(text)

    def warned(source: Path, name: str) -> list[str]:
        monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / name}.sqlite")
        settings.cache_clear()
        result = CliRunner().invoke(
            app, ["run", str(source), "--playbook", str(playbook), "--as-of", "2026-09-30",
                  "--format", "json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        plays = json.loads(result.stdout)["plays"]
        return sorted(p["account_id"] for p in plays if p["trigger"] == "usage_trend_early_warning")

    original = warned(folder, "original")
    assert original  # it fires on TeamFlow's own names
    assert warned(renamed, "renamed") == original

"""Scenario tests for headroom run on a small hand-made source."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from tests.triggers.seats import PLAYBOOK, run, write_source


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    settings.cache_clear()
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK.format(eligible="true"))
    return {"source": write_source(tmp_path / "src"), "playbook": book}


def decisions(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["account_id"]: d for d in body["decisions"]}


def test_six_days_do_not_fire_a_seven_day_rule_the_seventh_does(env: dict[str, Path]) -> None:
    assert run(env, "2026-03-25")["plays"] == []  # days 1-6 above 85%
    body = run(env, "2026-03-26")  # the 7th day
    [play] = body["plays"]
    assert play["account_id"] == "a1"
    assert play["owner"] == "self_serve"  # a Starter account
    assert play["evidence"] == {"seat_utilisation": 0.9, "days_held": 7}
    # Thursday 26 March: due the next business day, Friday, 10:00 in Berlin (CET, +01:00).
    assert play["due_at"] == "2026-03-27T10:00:00+01:00"
    # Routing: both rules match (acv 1,200; Starter); the tightest SLA runs from firing.
    assert play["notify"] == ["csm_direct_message", "growth_team"]
    assert play["sla_due_at"] == "2026-03-27T04:00:00+01:00"
    # a2 held too, but declined on 1 March: suppressed for 90 days.
    assert decisions(body)["a2"] == {
        "account_id": "a2", "trigger": "seat_expansion_proactive", "action": "skipped",
        "reason": "suppressed", "until": "2026-05-30",
    }  # fmt: skip


def test_due_at_across_the_daylight_saving_change(env: dict[str, Path]) -> None:
    # Fired Friday 27 March; Berlin moves to CEST on Sunday 29 March: Monday 10:00 is +02:00.
    body = run(env, "2026-03-27", "--dry-run")
    assert body["plays"][0]["due_at"] == "2026-03-30T10:00:00+02:00"


def test_same_day_twice_records_nothing_new_and_next_days_respect_open_and_cooldown(
    env: dict[str, Path],
) -> None:
    first = run(env, "2026-03-26")
    again = run(env, "2026-03-26")
    assert [p["play_id"] for p in again["plays"]] == [p["play_id"] for p in first["plays"]]
    assert decisions(again) == decisions(first)
    listed = CliRunner().invoke(app, ["plays", "list", "--format", "json"])
    assert len(json.loads(listed.stdout)) == 1

    assert decisions(run(env, "2026-03-27"))["a1"]["reason"] == "already_open"
    play_id = first["plays"][0]["play_id"]
    recorded = CliRunner().invoke(
        app, ["plays", "record", play_id, "--outcome", "won", "--amount-mrr", "30"]
    )
    assert recorded.exit_code == 0, recorded.output
    later = decisions(run(env, "2026-03-28"))["a1"]
    assert (later["reason"], later["until"]) == ("cooldown", "2026-04-25")
    # Day after day inside the cooldown never fires again.
    for day in ("2026-04-01", "2026-04-10", "2026-04-24"):
        assert run(env, day)["plays"] == []
    assert [p["account_id"] for p in run(env, "2026-04-25")["plays"]] == ["a1"]


def test_not_eligible(env: dict[str, Path]) -> None:
    env["playbook"].write_text(PLAYBOOK.format(eligible="tier = 'Business'"))
    body = run(env, "2026-03-26", "--dry-run")
    assert body["plays"] == []
    assert decisions(body)["a1"]["reason"] == "not_eligible"


def test_data_after_the_as_of_day_changes_nothing(tmp_path: Path, env: dict[str, Path]) -> None:
    before = run(env, "2026-03-26", "--dry-run")
    env["source"] = write_source(tmp_path / "later", extra_usage_after=dt.date(2026, 3, 26))
    after = run(env, "2026-03-26", "--dry-run")
    assert after == before

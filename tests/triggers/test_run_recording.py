"""``headroom run`` keeps each run it records (and the playbook's version) in the state store,
its output unchanged; a dry run and a repeated day keep nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.errors import ConfigError
from headroom.plays import deciding, runs, versions
from headroom.store.database import Store
from tests.triggers import seats as scenario


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    settings.cache_clear()
    book = tmp_path / "playbook.yaml"
    book.write_text(scenario.PLAYBOOK.format(eligible="true"))
    return {"source": scenario.write_source(tmp_path / "src"), "playbook": book}


def kept() -> tuple[list[runs.RunInfo], list[versions.VersionInfo]]:
    store = Store()
    try:
        listed, _ = runs.list_runs(store)
        return [runs.get_run(store, r.id) for r in listed], versions.versions(store)
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
        assert versions.get_version(store, version.version).text == env["playbook"].read_text()
    finally:
        store.close()


def test_the_table_output_is_unchanged(env: dict[str, Path]) -> None:
    result = CliRunner().invoke(
        app, ["run", str(env["source"]), "--playbook", str(env["playbook"]), "--as-of",
              "2026-03-26"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "as of 2026-03-26: 1 plays fired, 2 decisions"


def test_a_rerun_reports_the_plays_and_decisions_in_the_same_shape_and_order(
    env: dict[str, Path],
) -> None:
    dry = scenario.run(env, "2026-03-26", "--dry-run")
    first = scenario.run(env, "2026-03-26")
    again = scenario.run(env, "2026-03-26")  # recorded earlier: read back from the store
    assert again == first
    assert dry == first  # a dry run drafts the same plays (open, no outcome yet)
    (play,) = first["plays"]
    assert list(play) == [
        "play_id", "account_id", "trigger", "fired_on", "due_at", "owner", "role", "segment",
        "offer", "priority", "status", "outcome_on", "amount_mrr", "playbook_version",
        "evidence", "why", "notify", "sla_due_at",
    ]  # fmt: skip
    assert (play["status"], play["outcome_on"], play["amount_mrr"]) == ("open", None, None)
    listed = CliRunner().invoke(app, ["plays", "list", "--format", "json"])
    assert json.loads(listed.stdout) == first["plays"]


def test_the_table_shows_who_what_why_whose_and_when_or_the_columns_asked_for(
    env: dict[str, Path],
) -> None:
    args = ["run", str(env["source"]), "--playbook", str(env["playbook"]), "--as-of",
            "2026-03-26"]  # fmt: skip
    result = CliRunner().invoke(app, args, terminal_width=250)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "account_id" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == [
        "account_id",
        "trigger",
        "why",
        "owner",
        "due_at",
    ]
    assert "seat utilisation" in result.stdout  # why, whole at this width
    chosen = CliRunner().invoke(app, [*args, "--columns", "trigger,priority"])
    header = next(line for line in chosen.stdout.splitlines() if "trigger" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == ["trigger", "priority"]
    wrong = CliRunner().invoke(app, [*args, "--columns", "trigger,colour"])
    assert wrong.exit_code == 1  # said before any work
    assert (
        "--columns 'trigger,colour': colour is not a field of a play; name some of play_id, "
        "account_id, trigger" in wrong.output
    )


def test_a_recorded_plays_id_cannot_be_derived_from_what_it_is_about(
    env: dict[str, Path],
) -> None:
    """Play ids were a hash of account, trigger and day: 2,000 guesses found 50 plays. A
    recorded play's id is keyed by a secret of the state store, the same on every run of the
    day (a rerun, the realtime path), and no longer the plain hash."""
    import hashlib
    import re

    dry = scenario.run(env, "2026-03-26", "--dry-run")  # the ids a run would record
    body = scenario.run(env, "2026-03-26")
    (play,) = body["plays"]
    plain = hashlib.sha256(f"{play['account_id']}|{play['trigger']}|2026-03-26".encode())
    assert dry["plays"][0]["play_id"] == play["play_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", play["play_id"])
    assert not play["play_id"].startswith(plain.hexdigest()[:16])
    assert scenario.run(env, "2026-03-26")["plays"][0]["play_id"] == play["play_id"]


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

    monkeypatch.setattr(deciding, "decide", broken)
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


def test_two_runs_of_one_day_started_together_record_it_once(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second run finds the day not yet recorded and decides; meanwhile the first records
    it. The second then reports what the first recorded, as a rerun does (exit 0), and its
    own record says so; it used to exit 70 with the IntegrityError and its SQL."""
    decide = deciding.decide
    first: list[dict[str, Any]] = []

    def meanwhile(*args: Any) -> Any:
        result = decide(*args)
        if not first:  # while the second decides, the first runs whole
            monkeypatch.setattr(deciding, "decide", decide)
            first.append(scenario.run(env, "2026-03-26"))
        return result

    monkeypatch.setattr(deciding, "decide", meanwhile)
    result = CliRunner().invoke(
        app, ["run", str(env["source"]), "--playbook", str(env["playbook"]), "--as-of",
              "2026-03-26", "--format", "json"],
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")
    second = __import__("json").loads(result.stdout)
    assert [p["play_id"] for p in second["plays"]] == [p["play_id"] for p in first[0]["plays"]]
    assert second["decisions"] == first[0]["decisions"]
    listed, _ = kept()
    assert sorted((r.status, r.plays_fired) for r in listed) == [("finished", 0), ("finished", 1)]
    note = next(r for r in listed if r.plays_fired == 0).result
    assert note == {
        "as_of": "2026-03-26",
        "note": "another run recorded 2026-03-26 while this one was deciding; nothing to do: "
        "its plays and decisions are the day's",
    }


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{{ 'a' * 10**10 }}", "repeating makes over 100,000 characters"),
        ("{{ 2 ** 100000 }}", "an exponent of 100000 is over the limit of 64"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
         "it ran for over 2 s"),
        ("{% for i in range(99999) %}{{ 'x' * 9 }}{% endfor %}",
         "it makes over 100,000 characters"),
    ],
)  # fmt: skip
def test_a_template_that_would_take_the_machine_is_stopped(
    env: dict[str, Path], body: str, why: str
) -> None:
    """``{{ 'a' * 10**10 }}`` took 14.6 GB before it was killed (folded while compiling):
    text, numbers and time are bounded, and the run says which template went over, records
    nothing, and exits 1."""
    folder = env["playbook"].parent / "templates"
    folder.mkdir()
    (folder / "seats.email.j2").write_text("Subject: hi\n\n" + body)
    (folder / "seats.brief.j2").write_text(body)
    # messages are drafted for a playbook that has somewhere to send them
    (env["playbook"].parent / "delivery.yaml").write_text(
        'channels:\n  hook: {kind: webhook, url: "http://127.0.0.1:9/hook", '
        "secret: whsec_YSBsb25nIHJhbmRvbSBzZWNyZXQ=}\n"
        "send:\n  self_serve: {channel: hook}\n  csm: {channel: hook}\n"
        "  csm_direct_message: {channel: hook}\n  growth_team: {channel: hook}\n"
    )
    check = CliRunner().invoke(app, ["check", str(env["playbook"])])
    assert check.exit_code == 0, check.output  # nothing is computed while checking
    result = CliRunner().invoke(
        app, ["run", str(env["source"]), "--playbook", str(env["playbook"]), "--as-of",
              "2026-03-26"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: template seats.")
    assert result.stderr.endswith(
        f": {why}; run headroom check on the playbook and mend the template it names\n"
    )
    [run], _ = kept()
    assert run.status == "failed" and run.plays_fired is None

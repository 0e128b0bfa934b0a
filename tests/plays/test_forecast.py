"""Learned conversion (a benchmark prior updated by outcomes) and the pipeline it values."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.plays.conversion import Prior, learned
from headroom.plays.pipeline import build, open_plays
from headroom.store.database import Store
from headroom.store.models import Play
from tests.sources.helpers import write_source

TEAMFLOW = Path(__file__).resolve().parents[2] / "examples" / "teamflow" / "playbook.yaml"
PLAYBOOK = """version: 1
name: two triggers
triggers:
  - id: hot
    when: "seats > 0"
    offer: seats
    conversion: 60-80%
  - id: cold
    when: "seats > 0"
    offer: tier
"""


def play(account: str, trigger: str, status: str = "open", **kw: Any) -> SimpleNamespace:
    fields = {
        "play_id": f"{account}-{trigger}", "account_id": account, "trigger": trigger,
        "status": status, "fired_on": dt.date(2026, 3, 1), "outcome_on": None,
        "amount_mrr": None, "owner": f"csm.{account}", "evidence": {},
    }  # fmt: skip
    return SimpleNamespace(**(fields | kw))


@given(
    low=st.integers(1, 90),
    width=st.integers(2, 9),
    closed=st.integers(0, 10_000),
    share=st.floats(0, 1),
)
def test_the_posterior_lies_between_the_prior_and_the_evidence(
    low: int, width: int, closed: int, share: float
) -> None:
    prior = Prior(low / 100, (low + width) / 100)
    won = round(closed * share)
    rate = prior.posterior(won, closed)
    observed = won / closed if closed else prior.mean
    assert min(prior.mean, observed) - 1e-12 <= rate <= max(prior.mean, observed) + 1e-12
    # Each outcome moves it as one of weight + closed plays does.
    assert rate == pytest.approx((prior.mean * prior.weight + won) / (prior.weight + closed))


def test_learned_counts_plays_and_imported_conversations(tmp_path: Path) -> None:
    book_file = tmp_path / "p.yaml"
    book_file.write_text(PLAYBOOK)
    from headroom.playbook.model import load_playbook
    from headroom.signals.registry import types

    book = load_playbook(book_file, types())
    plays = [
        play("a1", "hot", "won", outcome_on=dt.date(2026, 3, 11), amount_mrr=300),
        play("a2", "hot", "won", outcome_on=dt.date(2026, 3, 21), amount_mrr=100),
        play("a3", "hot", "lost", outcome_on=dt.date(2026, 3, 5)),
        play("a4", "hot", "contacted"),
        play("a5", "hot"),
        play("a6", "gone"),  # a trigger no longer in the playbook
    ]
    outcomes = [
        # repeats a1's recorded outcome: counted once
        {"account_id": "a1", "date": dt.date(2026, 3, 11), "outcome": "won", "trigger": "hot",
         "amount_mrr": 300},
        {"account_id": "b1", "date": dt.date(2026, 2, 1), "outcome": "declined",
         "trigger": "cold", "amount_mrr": None},
        {"account_id": "b2", "date": dt.date(2026, 2, 1), "outcome": "won", "trigger": "cold",
         "amount_mrr": 50},
        {"account_id": "b3", "date": dt.date(2026, 2, 1), "outcome": "contacted",
         "trigger": "cold", "amount_mrr": None},
    ]  # fmt: skip
    hot, cold = learned(book, plays, outcomes)
    prior = Prior(0.6, 0.8)
    assert hot.to_dict() == {
        "trigger": "hot", "plays": 5, "opportunities": 4, "won": 2, "lost": 1,
        "signal_to_opportunity": 0.8, "opportunity_to_close": 2 / 3, "prior": "60-80%",
        "prior_weight": pytest.approx(prior.weight), "win_rate": prior.posterior(2, 3),
        "median_days_to_expansion": 15.0, "expansion_mrr": 400.0, "mean_expansion_mrr": 200.0,
    }  # fmt: skip
    assert (cold.plays, cold.won, cold.lost, cold.prior, cold.prior_weight) == (0, 1, 1, None, 2)
    assert cold.win_rate == pytest.approx(2 / 4)  # flat Beta(1, 1): (1 + 1) / (2 + 2)
    assert (cold.signal_to_opportunity, cold.mean_expansion_mrr) == (None, 50.0)


def test_build_values_open_plays_by_size_and_win_rate() -> None:
    plays = [
        play("a1", "hot"), play("a2", "hot", "contacted", owner="csm.a1"),
        play("a3", "cold"), play("a4", "hot", "won"),
    ]  # fmt: skip
    segments = {"a1": "smb", "a2": "smb", "a3": "enterprise"}
    result = build(
        open_plays(plays, segments), {"hot": 0.5, "cold": 0.25}, {"hot": 200.0, "cold": None},
        {"median": 80.0}, 4800.0,
    )  # fmt: skip
    assert [(p.play_id, p.size_mrr, p.weighted_mrr) for p in result.plays] == [
        ("a1-hot", 200.0, 100.0), ("a2-hot", 200.0, 100.0), ("a3-cold", 80.0, 20.0),
    ]  # fmt: skip
    assert (result.weighted_mrr, result.weighted_arr, result.coverage) == (220.0, 2640.0, 0.55)
    assert result.by_owner == [
        {"owner": "csm.a1", "plays": 2, "weighted_mrr": 200.0, "weighted_arr": 2400.0,
         "share_of_target": 0.5},
        {"owner": "csm.a3", "plays": 1, "weighted_mrr": 20.0, "weighted_arr": 240.0,
         "share_of_target": 0.05},
    ]  # fmt: skip
    assert [(r["segment"], r["plays"]) for r in result.by_segment] == [
        ("smb", 2),
        ("enterprise", 1),
    ]
    unsized = build(open_plays(plays, segments), {"cold": 0.25}, {"cold": None}, {}, None)
    assert (unsized.unsized, unsized.coverage) == (3, None)  # no size for either trigger


def test_conversion_and_pipeline_through_the_cli(tmp_path: Path) -> None:
    store = Store()
    try:
        with store.session() as s:
            for i, (trigger, status, amount) in enumerate(
                [("seat_expansion_urgent", "won", 250), ("seat_expansion_urgent", "open", None),
                 ("enterprise_expansion", "contacted", None), ("seat_expansion_urgent", "lost",
                 None)]
            ):  # fmt: skip
                s.add(Play(
                    play_id=f"p{i}", account_id=f"a{i}", trigger=trigger,
                    fired_on=dt.date(2026, 3, 1), due_at="2026-03-02T00:00:00+00:00",
                    owner="ana" if i % 2 else "bo", offer="seats", priority=1, evidence={},
                    playbook_version="v", status=status,
                    outcome_on=dt.date(2026, 3, 9) if status in ("won", "lost") else None,
                    amount_mrr=amount, created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
                ))  # fmt: skip
    finally:
        store.close()
    source = write_source(tmp_path / "src", {
        "subscriptions.csv": "subscription_id,account_id,start_date,end_date,mrr,plan,seats\n"
        "s1,a1,2025-01-01,2025-06-01,100,Starter,5\ns2,a1,2025-06-01,,160,Starter,8\n"
        "s3,a2,2025-01-01,,100,Starter,5\n",
        "accounts.csv": "account_id,segment\na0,smb\na1,smb\na2,enterprise\na3,smb\n",
    })  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, ["conversion", "--playbook", str(TEAMFLOW), "--format", "json"])
    assert result.exit_code == 0, result.output
    urgent = json.loads(result.stdout)[0]
    assert (urgent["plays"], urgent["won"], urgent["lost"], urgent["prior"]) == (3, 1, 1, "60-80%")
    assert urgent["win_rate"] == pytest.approx(Prior(0.6, 0.8).posterior(1, 2))
    ask = ["--playbook", str(TEAMFLOW), "--target", "150000", "--format", "json"]
    result = runner.invoke(app, ["pipeline", str(source), *ask])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    # SOURCE is an argument, as in every command; --source, its old spelling, says the same
    old = runner.invoke(app, ["pipeline", "--source", str(source), *ask])
    assert (old.exit_code, json.loads(old.stdout)) == (0, out)
    twice = runner.invoke(app, ["pipeline", str(source), "--source", str(source), *ask])
    assert (twice.exit_code, twice.stderr) == (1, (
        f"error: the source is given twice ({source} and --source {source}); give the source "
        "once, as the argument\n"
    ))  # fmt: skip
    enterprise = Prior(0.15, 0.25).posterior(0, 0)
    # p1 (urgent, open) is sized by the won urgent play; p2 (enterprise, contacted) by the
    # source's median expansion, 60 MRR (a1: 100 -> 160).
    assert [(p["play_id"], p["size_mrr"]) for p in out["plays"]] == [("p1", 250.0), ("p2", 60.0)]
    weighted = 250 * urgent["win_rate"] + 60 * enterprise
    assert out["weighted_mrr"] == pytest.approx(weighted)
    assert out["coverage"] == pytest.approx(weighted * 12 / 150000)
    assert {r["segment"] for r in out["by_segment"]} == {"smb", "enterprise"}
    assert sum(r["weighted_arr"] for r in out["by_owner"]) == pytest.approx(weighted * 12)

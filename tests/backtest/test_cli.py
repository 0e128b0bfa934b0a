"""``headroom backtest`` through the CLI, and the planted truth of generated TeamFlow history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from headroom.backtest import ALL, backtest
from headroom.playbook.model import load_playbook
from headroom.signals.registry import types
from headroom.sources import load
from tests.sources.helpers import headroom

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEAMFLOW = str(EXAMPLES / "teamflow" / "playbook.yaml")

#: TeamFlow plus a trigger on a signal the generator draws independently of readiness.
NOISE = """
  - id: noise_neutral_health
    when: "health = 'neutral'"
    cooldown: {group: noise, period: 30d}
    timing: immediately
    owner: csm
    offer: seats
    priority: 5

routing:"""


def test_backtest_json(history: Path) -> None:
    run = headroom(
        "backtest", str(history), "--playbook", TEAMFLOW, "--start", "2026-03-01",
        "--end", "2026-05-31", "--horizon-days", "60", "--format", "json",
    )  # fmt: skip
    assert run.code == 0, run.err
    out = run.json()
    assert (out["start"], out["end"], out["horizon_days"]) == ("2026-03-01", "2026-05-31", 60)
    assert [t["trigger"] for t in out["triggers"]][-1] == ALL
    assert set(out["triggers"][0]) == {
        "trigger", "fired", "accounts", "expansions", "foretold", "precision", "recall", "lift",
        "median_lead_days", "revenue_in_gap",
    }  # fmt: skip
    assert {r["segment"] for r in out["by_segment"]} == {"smb", "mid_market", "enterprise"}
    assert sorted({r["horizon_days"] for r in out["by_horizon"]}) == [14, 30, 60, 90, 180]
    assert out["base_rate_every_nth_day"] == 1  # 184,000 account-days: every day is read
    table = headroom(
        "backtest", str(history), "--playbook", TEAMFLOW, "--start", "2026-03-01",
        "--end", "2026-05-31", "--horizon-days", "60",
    )  # fmt: skip
    assert table.out[0] == "Backtest 2026-03-01 to 2026-05-31, horizon 60 days"


def test_a_sampled_base_rate_is_said(history: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from headroom.backtest import sparse

    monkeypatch.setattr(sparse, "STAGE_SAMPLE", 50_000)  # 2,000 accounts x 92 days: every 4th
    run = headroom(
        "backtest", str(history), "--playbook", TEAMFLOW, "--start", "2026-03-01",
        "--end", "2026-05-31", "--horizon-days", "60",
    )  # fmt: skip
    assert run.code == 0, run.err
    said = [line for line in run.out if "base rate" in line]
    assert said and said[0].endswith("read on one day in 4 of the range: a sample)"), said


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--start", "2026-05-01", "--end", "2026-04-30"],
            "error: --end 2026-04-30 is before --start 2026-05-01; give an end on or after "
            "the start\n",
        ),
        (
            ["--start", "2026-04-01", "--end", "2026-04-30", "--horizon-days", "0"],
            "error: --horizon-days 0 is not a positive number; use e.g. 90\n",
        ),
    ],
    ids=["end-before-start", "no-horizon"],
)
def test_bad_ranges_are_refused(history: Path, args: list[str], message: str) -> None:
    run = headroom("backtest", str(history), "--playbook", TEAMFLOW, *args)
    assert (run.code, run.err) == (1, message)


def test_the_backtest_recovers_the_planted_truth(history: Path, tmp_path: Path) -> None:
    # Triggers tied to the generator's readiness moments foretell expansions several times
    # better than chance; a trigger on a signal drawn independently of readiness does not.
    playbook = tmp_path / "noise.yaml"
    playbook.write_text(Path(TEAMFLOW).read_text().replace("\nrouting:", NOISE, 1))
    book = load_playbook(playbook, types())
    source = load(history, today=dt.date(2026, 10, 1))
    try:
        result = backtest(source, book, dt.date(2025, 12, 1), dt.date(2026, 6, 30), 90)
    finally:
        source.close()
    lift = {s.trigger: s.lift for s in result.triggers}
    assert all(s.fired > 20 for s in result.triggers), result.triggers
    for planted in ("seat_expansion_proactive", "tier_upgrade_usage", "enterprise_expansion"):
        found = lift[planted]
        assert found is not None and found > 2, (planted, lift)
    neutral = lift["noise_neutral_health"]
    assert neutral is not None and 0.6 < neutral < 1.4, lift

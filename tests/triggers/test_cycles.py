"""for: N cycles — a condition held at the end of each of the last N completed billing cycles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from headroom.playbook.model import load_playbook
from headroom.signals.registry import types
from headroom.sources import load
from headroom.triggers.decisions import History
from headroom.triggers.evaluate import evaluate

PLAYBOOK = """\
name: ceilings
triggers:
  - id: usage_ceiling
    when: "limit_share_automation_runs > 0.7"
    for: 2 cycles
    cooldown: {group: usage_ceiling, period: 60d}
    timing: immediately
    owner: csm
    offer: tier
"""


def fired(tmp_path: Path, first_cycle_runs: int) -> list[dict[str, object]]:
    """Anchor on the 15th. Cycles 15 Jan-14 Feb (31 days) and 15 Feb-14 Mar (28 days)."""
    folder = tmp_path / f"src{first_cycle_runs}"
    folder.mkdir()
    (folder / "plans.csv").write_text("plan,rank\nStarter,1\n")
    (folder / "plan_limits.csv").write_text(
        "plan,metric,limit,kind\nStarter,automation_runs,1000,per_cycle\n"
    )
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,mrr,plan\ns1,a1,2025-06-15,10,Starter\n"
    )
    lines = ["account_id,date,metric,value\n"]
    for i in range(70):
        day = dt.date(2026, 1, 15) + dt.timedelta(days=i)
        runs = first_cycle_runs if day < dt.date(2026, 2, 15) else 30
        lines.append(f"a1,{day},automation_runs,{runs}\n")
    (folder / "usage_daily.csv").write_text("".join(lines))
    (tmp_path / "p.yaml").write_text(PLAYBOOK)
    book = load_playbook(tmp_path / "p.yaml", types())
    source = load(folder, today=dt.date(2026, 12, 31))
    try:
        decisions = evaluate(source, book, dt.date(2026, 3, 20), History())
    finally:
        source.close()
    return [d.play.evidence for d in decisions if d.play]


@pytest.mark.parametrize(("first_cycle_runs", "fires"), [(30, True), (10, False)])
def test_two_completed_cycles_over_70_percent(
    tmp_path: Path, first_cycle_runs: int, fires: bool
) -> None:
    # 31 x 30 = 930 and 28 x 30 = 840 of 1,000: both cycles over 70%. With 10 runs a day the
    # first cycle is 310 and only one cycle is over.
    evidence = fired(tmp_path, first_cycle_runs)
    if fires:
        assert evidence == [{"limit_share_automation_runs": pytest.approx(0.18),
                             "cycles_held": 2}]  # fmt: skip
    else:
        assert evidence == []

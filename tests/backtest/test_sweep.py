"""Threshold sweeps: the spec is checked against the playbook; each value is a real replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from headroom.backtest.sweep import Sweep, numbers, parse_sweep, with_threshold
from headroom.errors import UsageError
from headroom.playbook.expressions import Node, Value
from headroom.playbook.model import load_playbook
from headroom.signals.registry import types
from tests.sources.helpers import headroom

TEAMFLOW = Path(__file__).resolve().parents[2] / "examples" / "teamflow" / "playbook.yaml"


def test_a_spec_names_the_trigger_and_the_values() -> None:
    book = load_playbook(TEAMFLOW, types())
    spec = parse_sweep("seat_expansion_proactive.threshold=0.75:0.95:0.05", book)
    assert spec == Sweep("seat_expansion_proactive", 1, (0.75, 0.8, 0.85, 0.9, 0.95))
    assert parse_sweep("enterprise_expansion.threshold2=20000:30000:5000", book) == Sweep(
        "enterprise_expansion", 2, (20000.0, 25000.0, 30000.0)
    )


def test_with_threshold_changes_only_that_number() -> None:
    book = load_playbook(TEAMFLOW, types())
    changed = with_threshold(book, Sweep("enterprise_expansion", 1, (0.9,)), 0.9)
    loc = ("triggers", 4, "when")
    before = [n.value for n in _values(book.conditions[loc])]
    after = [n.value for n in _values(changed.conditions[loc])]
    assert (before, after) == ([0.8, 25000.0], [0.9, 25000.0])
    assert {k: v for k, v in changed.conditions.items() if k != loc} == {
        k: v for k, v in book.conditions.items() if k != loc
    }


def _values(node: Node) -> list[Value]:
    return numbers(node)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "seat_expansion_proactive=0.75:0.95:0.05",
            "--sweep 'seat_expansion_proactive=0.75:0.95:0.05' is not "
            "TRIGGER.threshold=START:STOP:STEP; e.g. --sweep "
            "seat_expansion_proactive.threshold=0.75:0.95:0.05",
        ),
        (
            "seat_expansion_proactiv.threshold=0.75:0.95:0.05",
            "--sweep: the playbook has no trigger 'seat_expansion_proactiv' (did you mean "
            "'seat_expansion_proactive'?); its triggers are seat_expansion_urgent, "
            "seat_expansion_proactive, tier_upgrade_feature_interest, tier_upgrade_usage, "
            "enterprise_expansion",
        ),
        (
            "seat_expansion_proactive.threshold=0.95:0.75:0.05",
            "--sweep 'seat_expansion_proactive.threshold=0.95:0.75:0.05': the values go from "
            "0.95 to 0.75 in steps of 0.05; give a positive step and a stop at least the "
            "start, e.g. --sweep seat_expansion_proactive.threshold=0.75:0.95:0.05",
        ),
        (
            "seat_expansion_proactive.threshold=0:1:0.001",
            "--sweep 'seat_expansion_proactive.threshold=0:1:0.001' asks for 1001 values; "
            "sweep at most 50",
        ),
        (
            "enterprise_expansion.threshold=0.7:0.9:0.1",
            "--sweep: trigger enterprise_expansion's condition has 2 numbers (0.8, 25000); "
            "say which: enterprise_expansion.threshold1 to enterprise_expansion.threshold2",
        ),
        (
            "seat_expansion_urgent.threshold3=1:3:1",
            "--sweep: trigger seat_expansion_urgent's condition "
            "'events_invite_blocked_seat_limit_1d >= 1' has 1 number, not 3; use "
            "seat_expansion_urgent.threshold1 to seat_expansion_urgent.threshold1",
        ),
    ],
    ids=["format", "unknown-trigger", "backwards", "too-many", "which-number", "no-such-number"],
)
def test_bad_specs_say_what_and_how_to_fix(text: str, message: str) -> None:
    book = load_playbook(TEAMFLOW, types())
    with pytest.raises(UsageError) as err:
        parse_sweep(text, book)
    assert str(err.value) == message


def test_the_sweep_through_the_cli(history: Path) -> None:
    common = ["--playbook", str(TEAMFLOW), "--start", "2026-02-01", "--end", "2026-05-31"]
    run = headroom(
        "backtest", str(history), *common, "--format", "json",
        "--sweep", "seat_expansion_proactive.threshold=0.8:0.9:0.05",
    )  # fmt: skip
    assert run.code == 0, run.err
    rows = run.json()["rows"]
    assert [r["threshold"] for r in rows] == [0.8, 0.85, 0.9]
    # At the playbook's own threshold the sweep is the backtest itself.
    plain = headroom("backtest", str(history), *common, "--format", "json").json()
    own = next(t for t in plain["triggers"] if t["trigger"] == "seat_expansion_proactive")
    assert {k: v for k, v in rows[1].items() if k not in ("threshold", "best")} == {
        k: v for k, v in own.items() if k != "trigger"
    }
    best = [r for r in rows if r["best"]]
    assert len(best) == 1 and best[0]["lift"] == max(r["lift"] for r in rows)
    assert rows[0]["fired"] > rows[2]["fired"]  # a lower bar fires more often

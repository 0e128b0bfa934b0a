"""Precision, recall, lift, lead time and the revenue in the gap, against plain Python."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headroom.backtest.accuracy import ALL, MONTH_DAYS, score
from headroom.backtest.replay import number_day, replay
from headroom.metrics.expansion import expansion_events
from headroom.playbook.model import load_playbook
from headroom.signals.registry import types
from headroom.sources import load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def plain(
    firings: list[tuple[str, str, dt.date]],
    stage_days: list[tuple[str, dt.date]],
    expansions: list[tuple[str, dt.date, float]],
    triggers: list[str],
    start: dt.date,
    end: dt.date,
    h: int,
    segment_of: dict[str, str] | None = None,
    segment: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The scores by their definitions, one account-day at a time."""

    def mine(account: str) -> bool:
        return segment is None or (segment_of or {}).get(account) == segment

    firings = [f for f in firings if mine(f[0])]
    stage_days = [s for s in stage_days if mine(s[0])]
    expansions = [e for e in expansions if mine(e[0])]
    by_account: dict[str, list[dt.date]] = defaultdict(list)
    for account, day, _ in expansions:
        by_account[account].append(day)

    def followed(account: str, day: dt.date) -> bool:
        return any(day < e <= day + dt.timedelta(days=h) for e in by_account[account])

    base = sum(followed(a, d) for a, d in stage_days) / len(stage_days)
    in_range = [e for e in expansions if start < e[1] <= end]
    out = {}
    for trigger in [*triggers, ALL]:
        mine_f = sorted({(a, d) for a, t, d in firings if trigger in (t, ALL)})
        hits = sum(followed(a, d) for a, d in mine_f)
        leads, gap = [], 0.0
        for account, day, delta in in_range:
            before = [
                d for a, d in mine_f if a == account and day - dt.timedelta(days=h) <= d < day
            ]
            if before:
                leads.append((day - min(before)).days)
                gap += delta * (day - min(before)).days / MONTH_DAYS
        precision = hits / len(mine_f) if mine_f else None
        out[trigger] = {
            "fired": len(mine_f),
            "accounts": len({a for a, _ in mine_f}),
            "expansions": len(in_range),
            "foretold": len(leads),
            "precision": precision,
            "recall": len(leads) / len(in_range) if in_range else None,
            "lift": precision / base if precision is not None and base else None,
            "median_lead_days": statistics.median(leads) if leads else None,
            "revenue_in_gap": gap,
            "base_rate": base,
        }
    return out


def close(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, want in expected.items():
        if key == "base_rate":
            continue
        assert actual[key] == (pytest.approx(want) if isinstance(want, float) else want), key


def test_scores_match_their_definitions(teamflow: Callable[..., Path], tmp_path: Path) -> None:
    folder = teamflow(accounts=300, days=240, seed=3)
    source = load(folder, today=dt.date(2026, 10, 1))
    book = load_playbook(EXAMPLES / "teamflow" / "playbook.yaml", types())
    start, end, h = dt.date(2026, 5, 1), dt.date(2026, 7, 31), 45
    try:
        with replay(source, book, start, end, h) as r:
            result = score(source, r)
            firings = [
                (row["account_id"], row["trigger"], number_day(row["dn"]))
                for row in r.firings.to_pyarrow().to_pylist()
            ]
            stage = [
                (row["account_id"], number_day(row["dn"]))
                for row in r.in_stage.to_pyarrow().to_pylist()
            ]
        events = expansion_events(source, end + dt.timedelta(days=h)).to_pyarrow().to_pylist()
        accounts = source.table("accounts").to_pyarrow().to_pylist()
    finally:
        source.close()
    expansions = [(e["account_id"], e["date"], float(e["delta_mrr"])) for e in events]
    triggers = [t.id for t in book.model.triggers]
    expected = plain(firings, stage, expansions, triggers, start, end, h)
    assert len(firings) > 50 and expected[ALL]["foretold"] > 10  # enough to tell
    assert result.base_rate == pytest.approx(expected[ALL]["base_rate"])
    assert [s.trigger for s in result.triggers] == [*triggers, ALL]
    for s in result.triggers:
        close(s.to_dict(), expected[s.trigger])
    segment_of = {a["account_id"]: a["segment"] for a in accounts}
    for segment in sorted(set(segment_of.values())):
        want = plain(firings, stage, expansions, triggers, start, end, h, segment_of, segment)
        for s in (s for s in result.by_segment if s.segment == segment):
            close(s.to_dict(), want[s.trigger])
    for row in result.by_horizon:
        if row["horizon_days"] in (14, 90):
            want = plain(firings, stage, expansions, triggers, start, end, row["horizon_days"])
            close(row, {k: want[row["trigger"]][k] for k in ("precision", "recall", "lift")})


def test_a_large_range_reads_the_base_rate_on_every_nth_day(
    teamflow: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headroom.backtest import sparse

    folder = teamflow(accounts=300, days=240, seed=3)
    source = load(folder, today=dt.date(2026, 10, 1))
    book = load_playbook(EXAMPLES / "teamflow" / "playbook.yaml", types())
    start, end, h = dt.date(2026, 5, 1), dt.date(2026, 7, 31), 45
    try:
        with replay(source, book, start, end, h, steps=False) as r:
            exact, every_day = score(source, r), r.stage_every
        monkeypatch.setattr(sparse, "STAGE_SAMPLE", 300 * 92 // 5)
        with replay(source, book, start, end, h) as r:
            sampled, every = score(source, r), r.stage_every
            days = {number_day(d) for d in r.in_stage.dn.to_pyarrow().to_pylist()}
        # Read from the signal table, the same days are sampled: the same base rate.
        with replay(source, book, start, end, h, steps=False) as r:
            assert score(source, r).base_rate == sampled.base_rate
    finally:
        source.close()
    assert (every_day, every) == (1, 5)
    assert min(days) == start and {(d - start).days % 5 for d in days} == {0}
    assert exact.base_rate and sampled.base_rate
    assert sampled.base_rate == pytest.approx(exact.base_rate, rel=0.15)
    assert sampled.base_rate != exact.base_rate  # a sample, not the whole
    for a, b in zip(exact.triggers, sampled.triggers, strict=True):
        assert (a.fired, a.precision, a.recall) == (b.fired, b.precision, b.recall)
    assert sampled.to_dict()["base_rate_every_nth_day"] == 5

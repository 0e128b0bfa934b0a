"""Step forms give the values of the daily signal table, signal by signal."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from headroom.backtest.sparse import holding
from headroom.generate import Options, generate
from headroom.playbook.expressions import parse
from headroom.signals.registry import Context, signal_table, types
from headroom.signals.steps import at_days, has_steps
from headroom.sources import load

NAMES = {
    "mrr", "acv", "seats", "tier", "tier_rank", "days_to_renewal", "paying", "tenure_days",
    "segment", "health", "onboarded", "active_users", "power_users", "seat_utilisation",
    "events_invite_blocked_seat_limit_1d", "events_integration_page_view_30d",
    "events_gated_feature_attempt_14d",
}  # fmt: skip


def _gaps(folder: Path) -> None:
    """Holes in some accounts' usage (every third day of a stretch, and a two-week outage),
    so that the latest fresh value must be searched for, not read off the day's own row."""
    path = folder / "usage_daily.parquet"
    t = pq.read_table(path)
    ids = sorted(set(t["account_id"].to_pylist()))[::4]
    day = pc.day(t["date"])
    mine = pc.is_in(t["account_id"], pa.array(ids))
    holes = pc.or_(
        pc.equal(pc.bit_wise_and(day, 3), 0),
        pc.and_(pc.greater(t["date"], pa.scalar(dt.date(2026, 8, 1), pa.date32())),
                pc.less(t["date"], pa.scalar(dt.date(2026, 8, 15), pa.date32()))),
    )  # fmt: skip
    pq.write_table(t.filter(pc.invert(pc.and_(mine, holes))), path)


def _ghost_events(folder: Path) -> None:
    """Events of an account the accounts table does not know (loading keeps them, warning)."""
    path = folder / "events.parquet"
    t = pq.read_table(path)
    rows = {
        "event_id": ["ghost1", "ghost2"],
        "account_id": ["ghost", "ghost"],
        "event": ["invite_blocked_seat_limit"] * 2,
        "timestamp": ["2026-09-01T10:00:00Z", "2026-09-02T10:00:00Z"],
    }
    ghost = pa.table({c: rows.get(c, [None, None]) for c in t.column_names}).cast(t.schema)
    pq.write_table(pa.concat_tables([t, ghost]), path)


def _table(t: Any) -> dict[tuple[str, dt.date], dict[str, Any]]:
    return {(r["account_id"], r["day"]): r for r in t.to_pyarrow().to_pylist()}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def test_step_forms_give_the_signal_tables_values(tmp_path: Path) -> None:
    generate(tmp_path / "tf", Options(accounts=250, days=240, seed=8, parquet=True))
    _gaps(tmp_path / "tf")
    _ghost_events(tmp_path / "tf")
    usage = pq.read_table(tmp_path / "tf" / "usage_daily.parquet").to_pylist()
    rows = {(u["account_id"], u["date"]) for u in usage if u["metric"] == "active_users"}
    source = load(tmp_path / "tf", today=dt.date(2026, 10, 1))
    assert has_steps(NAMES)
    try:
        with Context(source, dt.date(2026, 9, 20), history=75) as ctx:
            daily = _table(signal_table(ctx, NAMES))
            stepped = _table(at_days(ctx, ctx.grid(), NAMES))
            # Stretches cover the accounts the signal table has, and no others.
            when = parse("events_invite_blocked_seat_limit_1d >= 1", types())
            held = holding(ctx, when, {}).to_pyarrow().to_pylist()
    finally:
        source.close()
    assert daily.keys() == stepped.keys()
    assert held and "ghost" not in {row["account_id"] for row in held}
    assert len(daily) == 250 * 75
    differ = [
        (key, name, row[name], stepped[key][name])
        for key, row in daily.items()
        for name in sorted(NAMES)
        if not _same(row[name], stepped[key][name])
    ]
    assert differ == []
    # The comparison is not empty-handed: each signal has values, and usage has gaps.
    for name in NAMES:
        assert any(row[name] not in (None, 0.0, False) for row in daily.values()), name
    assert sum(row["active_users"] is None for row in daily.values()) > 1000
    # Values carried over days without a row of their own: inside gaps and after a last row.
    carried = [key for key, row in daily.items() if row["active_users"] is not None
               and key not in rows]  # fmt: skip
    assert len(carried) > 100
    last: dict[str, dt.date] = {}
    for account, day in rows:
        last[account] = max(day, last.get(account, day))
    assert any(day > last[account] for account, day in carried)

"""The replay fires what running ``headroom run`` every day would have fired, and never looks
ahead."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from headroom.backtest import backtest
from headroom.backtest.replay import Replayer, number_day, replay
from headroom.generate import Options, generate
from headroom.metrics.expansion import expansion_events
from headroom.playbook.model import Playbook, load_playbook
from headroom.signals.registry import types
from headroom.sources import Source, load
from headroom.sources.engines import on_engine
from headroom.triggers.decisions import History, source_declines
from headroom.triggers.evaluate import evaluate
from tests import parts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
Firing = tuple[str, str, dt.date]


def daily_runs(
    source: Source, book: Playbook, start: dt.date, end: dt.date, horizon: int
) -> list[Firing]:
    """The plain way: ``evaluate`` as of every day, its history kept as ``headroom run`` keeps
    it, a play open until the account's next expansion or ``horizon`` days."""
    rows = expansion_events(source, end).select("account_id", "date").to_pyarrow().to_pylist()
    expansions: dict[str, list[dt.date]] = defaultdict(list)
    for row in rows:
        expansions[row["account_id"]].append(row["date"])
    groups = {t.id: t.cooldown.group for t in book.model.triggers if t.cooldown}
    open_until: dict[tuple[str, str], dt.date] = {}
    last: dict[tuple[str, str], dt.date] = {}
    fired: list[Firing] = []
    day = start
    while day <= end:
        history = History(
            open_plays={key for key, until in open_until.items() if day < until},
            last_fired=dict(last),
            declined_on=source_declines(source, day),
        )
        for d in evaluate(source, book, day, history):
            if d.action != "fired":
                continue
            fired.append((d.account_id, d.trigger, day))
            if d.trigger in groups:
                last[(d.account_id, groups[d.trigger])] = day
            after = [e for e in sorted(expansions[d.account_id]) if e > day]
            until = day + dt.timedelta(days=horizon)
            open_until[(d.account_id, d.trigger)] = min([until, *after[:1]])
        day += dt.timedelta(days=1)
    return sorted(fired)


def replayed(
    source: Source, book: Playbook, start: dt.date, end: dt.date, horizon: int, steps: bool = True
) -> list[Firing]:
    with replay(source, book, start, end, horizon, steps) as r:
        rows = r.firings.to_pyarrow().to_pylist()
    return sorted((row["account_id"], row["trigger"], number_day(row["dn"])) for row in rows)


@pytest.mark.parametrize(
    ("example", "days", "steps"),
    [("teamflow", 30, True), ("teamflow", 30, False), ("trigger-types", 21, True)],
)
def test_replay_fires_what_daily_runs_fire(
    teamflow: Callable[..., Path], tmp_path: Path, example: str, days: int, steps: bool
) -> None:
    # A short horizon, so that plays close and fire again within the range.
    folder = teamflow(accounts=300, days=240, seed=3)
    source = load(folder, today=dt.date(2026, 10, 1))
    book = load_playbook(EXAMPLES / example / "playbook.yaml", types())
    start = dt.date(2026, 7, 1)
    end = start + dt.timedelta(days=days - 1)
    try:
        # TeamFlow's conditions have step forms; trigger-types counts billing cycles and
        # compares signals of two forms, so it reads the signal table.
        with Replayer(source, book, start, end, 20, steps) as r:
            assert r.use_steps == (steps and example == "teamflow")
        expected = daily_runs(source, book, start, end, horizon=20)
        assert len({trigger for _, trigger, _ in expected}) >= 4  # most triggers take part
        assert replayed(source, book, start, end, 20, steps) == expected
    finally:
        source.close()


def test_owners_and_routing_do_not_keep_a_playbook_off_step_forms(
    teamflow: Callable[..., Path], tmp_path: Path
) -> None:
    # limit_share has no step form; a routing rule reading it decides who hears of a play,
    # not whether it fires, so the replay still finds firings on stretches.
    text = (EXAMPLES / "teamflow" / "playbook.yaml").read_text()
    text = text.replace("routing:\n", "routing:\n  - when: \"limit_share > 0.9\"\n"
                        "    notify: [csm_direct_message]\n", 1)  # fmt: skip
    (tmp_path / "book.yaml").write_text(text)
    book = load_playbook(tmp_path / "book.yaml", types())
    assert "limit_share" in book.signals()
    folder = teamflow(accounts=50, days=120, seed=2)
    source = load(folder, today=dt.date(2026, 10, 1))
    try:
        with Replayer(source, book, dt.date(2026, 8, 1), dt.date(2026, 8, 10), 20) as r:
            assert r.use_steps
    finally:
        source.close()


def _rewrite(folder: Path, table: str, change: Callable[[pa.Table], pa.Table]) -> None:
    path = folder / f"{table}.parquet"
    pq.write_table(change(pq.read_table(path)), path)


def _change_after(folder: Path, cut: dt.date) -> None:
    """Every usage figure after ``cut`` ten times bigger, no subscription change after it, and
    every account blocked from inviting and declining a conversation the day after."""
    after = pa.scalar(cut, pa.date32())
    next_day = cut + dt.timedelta(days=1)
    ids = pq.read_table(folder / "accounts.parquet")["account_id"]
    n = len(ids)

    def usage(t: pa.Table) -> pa.Table:
        bigger = pc.if_else(pc.greater(t["date"], after), pc.multiply(t["value"], 10), t["value"])
        return t.set_column(t.schema.get_field_index("value"), "value", bigger)

    def late(t: pa.Table, columns: dict[str, list[object]]) -> pa.Table:
        rows = {c: columns.get(c, [None] * n) for c in t.column_names}
        return pa.concat_tables([t, pa.table(rows, schema=t.schema)])

    _rewrite(folder, "usage_daily", usage)
    _rewrite(folder, "subscriptions", lambda t: t.filter(pc.less_equal(t["start_date"], after)))
    _rewrite(folder, "events", lambda t: late(t, {
        "event_id": [f"late{i}" for i in range(n)],
        "account_id": ids.to_pylist(),
        "event": ["invite_blocked_seat_limit"] * n,
        "timestamp": [f"{next_day}T12:00:00Z"] * n,
    }))  # fmt: skip
    _rewrite(folder, "outcomes", lambda t: late(t, {
        "account_id": ids.to_pylist(), "date": [next_day] * n, "outcome": ["declined"] * n,
    }))  # fmt: skip


@pytest.mark.parametrize("steps", [True, False])
def test_data_dated_after_a_day_never_changes_that_days_firings(
    tmp_path: Path, steps: bool
) -> None:
    book = load_playbook(EXAMPLES / "teamflow" / "playbook.yaml", types())
    start, cut, end = dt.date(2026, 6, 1), dt.date(2026, 7, 15), dt.date(2026, 8, 31)
    firings = {}
    for name in ("as_is", "changed"):
        folder = tmp_path / name
        generate(folder, Options(accounts=400, days=300, seed=5, parquet=True))
        if name == "changed":
            _change_after(folder, cut)
        source = load(folder, today=dt.date(2026, 10, 1))
        try:
            firings[name] = replayed(source, book, start, end, 90, steps)
        finally:
            source.close()
    upto = [f for f in firings["as_is"] if f[2] <= cut]
    assert len(upto) > 20
    assert [f for f in firings["changed"] if f[2] <= cut] == upto
    assert firings["changed"] != firings["as_is"]  # the change did reach the later days


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_the_backtest_is_the_same_on_spark(teamflow: Callable[..., Path], tmp_path: Path) -> None:
    parts.spark()
    folder = teamflow(accounts=200, days=200, seed=4)
    source = load(folder, today=dt.date(2026, 10, 1))
    book = load_playbook(EXAMPLES / "teamflow" / "playbook.yaml", types())
    start, end = dt.date(2026, 7, 1), dt.date(2026, 7, 31)
    try:
        on_duckdb = backtest(source, book, start, end, 30).to_dict()
        on_spark = backtest(on_engine(source, "spark"), book, start, end, 30).to_dict()
    finally:
        source.close()
    assert on_duckdb["triggers"][-1]["fired"] > 10
    assert on_spark == _approx(on_duckdb)


def _approx(value: Any) -> Any:
    """Floats compared to 1e-9: engines may sum in another order."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9)
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return value

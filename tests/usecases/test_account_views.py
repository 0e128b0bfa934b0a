"""An account's page computed on a small engine holding one account's rows at a time, against
the same signals computed over the whole source (no narrowing, no copying, nothing compiled
ahead): the same numbers, for every account, in any order."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import ibis
import pytest

from headroom.errors import NotFoundError
from headroom.signals.registry import Context, signal_table
from headroom.sources import Source, load
from headroom.usecases.account import FACTS, AccountView, AccountViews, account_view

AS_OF = dt.date(2026, 6, 30)
DAYS = 60


@pytest.fixture(scope="module")
def teamflow(teamflow: Callable[..., Path]) -> Iterator[Source]:
    """The session's generated TeamFlow (60 accounts, 400 days), loaded."""
    folder = teamflow(accounts=60, days=400, end=AS_OF)
    source = load(folder, today=AS_OF + dt.timedelta(days=1))
    yield source
    source.close()


def _rows(t: ibis.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = t.to_pyarrow().to_pylist()
    return rows


def reference(source: Source, account_id: str) -> dict[str, Any]:
    """What the page shows, computed over every account's rows."""
    daily = signal_table(Context(source, AS_OF, history=DAYS), set(FACTS))
    daily = _rows(daily.filter(daily.account_id == account_id).order_by("day"))
    limits = _rows(source.table("plan_limits").select("metric").distinct())
    names = {f"days_to_limit_{r['metric']}" for r in limits}
    projected = signal_table(Context(source, AS_OF), names)
    projected = _rows(projected.filter(projected.account_id == account_id))
    u = source.table("usage_daily")
    since = AS_OF - dt.timedelta(days=DAYS)
    u = u.filter((u.account_id == account_id) & (u.date > since) & (u.date <= AS_OF))
    points: dict[str, list[tuple[dt.date, float]]] = {}
    for r in _rows(u.order_by("date")):
        points.setdefault(r["metric"], []).append((r["date"], float(r["value"])))
    return {
        "facts": {k: daily[-1][k] for k in FACTS},
        "utilisation": [
            (r["day"], float(r["seat_utilisation"]))
            for r in daily
            if r["seat_utilisation"] is not None
        ],
        "days": {n.removeprefix("days_to_limit_"): projected[0][n] for n in names},
        "points": points,
    }


def shown(view: AccountView) -> dict[str, Any]:
    return {
        "facts": view.facts,
        "utilisation": view.utilisation,
        "days": {u.metric: u.days for u in view.usage if u.limit is not None},
        "points": {u.metric: u.points for u in view.usage},
    }


def _dated(source: Source) -> list[str]:
    """The accounts with a days-to-limit date on AS_OF, in id order."""
    limits = _rows(source.table("plan_limits").select("metric").distinct())
    names = {f"days_to_limit_{r['metric']}" for r in limits}
    rows = _rows(signal_table(Context(source, AS_OF), names).order_by("account_id"))
    return [r["account_id"] for r in rows if any(r[n] is not None for n in names)]


def test_each_account_gets_its_own_numbers_from_one_engine(teamflow: Source) -> None:
    ids = [r["account_id"] for r in _rows(teamflow.table("accounts").select("account_id"))]
    # two accounts whose usage reaches a limit within a year (a date to compare), then the
    # first ones again after others filled the engine
    dated = _dated(teamflow)[:2]
    assert len(dated) == 2
    order = dated + ids[:12] + ids[:3]
    base = len(dated)
    views = AccountViews(teamflow, engines=1, days=DAYS)
    try:
        seen = [views.view(a, AS_OF) for a in order]
    finally:
        views.close()
    projected = 0
    for account_id, view in zip(order, seen, strict=True):
        want = reference(teamflow, account_id)
        got = shown(view)
        # only metered metrics the account's plan limits are projected; the line's weighted
        # sums are taken over other rows in another order: equal to the last few bits
        expected = {m: want["days"][m] for m in got["days"]}
        assert {m: d is None for m, d in got["days"].items()} == {
            m: d is None for m, d in expected.items()
        }, account_id
        for m, d in got["days"].items():
            if d is not None:
                assert d == pytest.approx(expected[m], rel=1e-9), (account_id, m)
        assert {k: v for k, v in got.items() if k != "days"} == {
            k: v for k, v in want.items() if k != "days"
        }, account_id
        projected += sum(d is not None for d in got["days"].values())
    assert projected >= 2  # the dated accounts' dates were compared
    assert seen[-1] == seen[base + 2] and seen[base] == seen[base + 12]


def test_the_engine_copies_only_the_usage_the_page_reads(teamflow: Source) -> None:
    views = AccountViews(teamflow, engines=1, days=DAYS)
    try:
        views.view("acc_00001", AS_OF)
        (engine,) = views._made
        first = engine.narrow.source.table("usage_daily").date.min().to_pyarrow().as_py()
        compiled = views._queries[AS_OF]
    finally:
        views.close()
    # what the 90-day projection window can see from the as-of day, with the 27 days behind
    # its first day's 28-day level (a per-cycle limit's), no more: the year its calibration
    # reads is read on the whole source, not copied
    assert compiled.since == {"usage_daily": AS_OF - dt.timedelta(days=90 + 27)}
    assert first >= compiled.since["usage_daily"]


def test_an_unknown_account_is_not_found(teamflow: Source) -> None:
    with pytest.raises(NotFoundError) as caught:
        account_view(teamflow, "acc_nobody", AS_OF, days=DAYS)
    assert str(caught.value) == "no account 'acc_nobody'; the queue links the accounts"


def test_a_context_records_how_far_back_its_signals_read(teamflow: Source) -> None:
    ctx = Context(teamflow, AS_OF, history=10)
    ctx.recent("usage_daily", 30)
    ctx.recent("usage_daily", 7)
    assert ctx.reach == {"usage_daily": AS_OF - dt.timedelta(days=39)}
    ctx.table("usage_daily")  # every row up to the day
    ctx.recent("usage_daily", 1)
    assert ctx.reach == {"usage_daily": None}


def test_pages_asked_at_once_are_computed_together_each_with_its_own_numbers(
    teamflow: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the one engine computes a page, the pages asked meanwhile wait and are then
    computed in one batch, on one engine filled with all their accounts' rows: each gets the
    numbers it gets alone, an unknown account among them is not found, and the rest are not
    held up by it."""
    ids = [r["account_id"] for r in _rows(teamflow.table("accounts").select("account_id"))]
    first, *others = ids[:12]
    asked = [*others, "acc_nobody"]
    alone = AccountViews(teamflow, engines=1, days=DAYS)
    try:
        expected = {a: alone.view(a, AS_OF) for a in ids[:12]}
    finally:
        alone.close()

    gate = threading.Event()
    batches: list[list[str]] = []
    compute = AccountViews._compute

    def gated(self: AccountViews, engine: Any, batch: list[Any], as_of: dt.date) -> None:
        batches.append([a.account_id for a in batch])
        if len(batches) == 1:
            assert gate.wait(60)
        compute(self, engine, batch, as_of)

    monkeypatch.setattr(AccountViews, "_compute", gated)
    views = AccountViews(teamflow, engines=1, days=DAYS)
    try:
        with ThreadPoolExecutor(len(asked) + 1) as pool:
            held = pool.submit(views.view, first, AS_OF)
            waiting = {a: pool.submit(views.view, a, AS_OF) for a in asked}
            for _ in range(600):  # every page asked, waiting for the busy engine
                with views._cond:
                    if len(views._asked) == len(asked):
                        break
                time.sleep(0.05)
            gate.set()
            assert held.result() == expected[first]
            for a in others:
                assert_same(waiting[a].result(), expected[a])
            with pytest.raises(NotFoundError):
                waiting["acc_nobody"].result()
    finally:
        views.close()
    assert batches[0] == [first]
    assert sorted(a for b in batches[1:] for a in b) == sorted(asked)
    assert len(batches) == 2  # the pages that waited, in one batch


def assert_same(got: AccountView, want: AccountView) -> None:
    """The same page, but for the last digits of the projections: DuckDB sums a window over
    more accounts' rows in another order."""

    def without_projections(v: AccountView) -> AccountView:
        return replace(v, usage=[replace(u, days=None, low=None, high=None) for u in v.usage])

    assert without_projections(got) == without_projections(want), got.account_id
    for g, w in zip(got.usage, want.usage, strict=True):
        for f in ("days", "low", "high"):
            near = None if getattr(w, f) is None else pytest.approx(getattr(w, f), rel=1e-9)
            assert getattr(g, f) == near, (got.account_id, g.metric, f)


def test_pages_read_a_copy_of_recent_usage_ordered_by_account_and_show_the_same(
    teamflow: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server makes, once per loaded file, a copy of the recent usage ordered by account
    (an account's rows are then in one block, not spread over every day's): the pages read
    there show what they show without it, and a second server finds the copy made."""
    from headroom.facts import usage_index

    monkeypatch.setattr(usage_index, "MIN_ROWS", 0)  # this source is small
    ids = [r["account_id"] for r in _rows(teamflow.table("accounts").select("account_id"))]
    plain = AccountViews(teamflow, engines=1, days=DAYS)
    try:
        expected = {a: plain.view(a, AS_OF) for a in ids[:8]}
    finally:
        plain.close()
    read: list[int] = []
    views = AccountViews(teamflow, engines=2, days=DAYS)
    try:
        views.prepare(AS_OF)
        index = views._index
        assert index is not None
        since = views._queries[AS_OF].since["usage_daily"]
        assert index.since == since - dt.timedelta(days=usage_index.MARGIN_DAYS)
        assert index.path.name == f"{teamflow.path.stem}.pages-{index.since}.duckdb"
        counted = index.read

        def counting(keys: list[int], since: dt.date | None) -> Any:
            rows = counted(keys, since)
            read.append(0 if rows is None else rows.num_rows)
            return rows

        for engine in views._made:
            engine.narrow.readers["usage_daily"] = counting
        for a in ids[:8]:
            assert views.view(a, AS_OF) == expected[a]
        # the copy is ordered by account: what the pages read of it comes from few blocks
        ordered = index._con.sql("SELECT account_key FROM usage_daily ORDER BY rowid")
        keys = ordered.fetchnumpy()["account_key"]
        assert (keys[1:] >= keys[:-1]).all()
    finally:
        views.close()
    assert len(read) == 8 and all(n > 0 for n in read)
    again = AccountViews(teamflow, engines=1, days=DAYS)
    try:
        again.prepare(AS_OF)
        assert again._index is not None and again._index.path == index.path
    finally:
        again.close()

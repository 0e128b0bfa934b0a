"""An account's page computed on a small engine holding one account's rows at a time, against
the same signals computed over the whole source (no narrowing, no copying, nothing compiled
ahead): the same numbers, for every account, in any order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import ibis
import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.errors import NotFoundError
from headroom.facts.account import FACTS, AccountView, AccountViews, account_view
from headroom.signals.registry import Context, signal_table
from headroom.sources import Source, load

AS_OF = dt.date(2026, 6, 30)
DAYS = 60


@pytest.fixture(scope="module")
def teamflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    folder = tmp_path_factory.mktemp("views") / "teamflow"
    made = CliRunner().invoke(app, ["generate", "teamflow", str(folder), "--accounts", "60",
                                    "--days", "400", "--end", str(AS_OF)])  # fmt: skip
    assert made.exit_code == 0, made.output
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


def test_each_account_gets_its_own_numbers_from_one_engine(teamflow: Source) -> None:
    ids = [r["account_id"] for r in _rows(teamflow.table("accounts").select("account_id"))]
    order = ids[:12] + ids[:3]  # back to the first accounts after others filled the engine
    views = AccountViews(teamflow, engines=1, days=DAYS)
    try:
        seen = [views.view(a, AS_OF) for a in order]
    finally:
        views.close()
    projected = 0
    for account_id, view in zip(order, seen, strict=True):
        want = reference(teamflow, account_id)
        got = shown(view)
        # only metered metrics the account's plan limits are projected
        assert got["days"] == {m: want["days"][m] for m in got["days"]}, account_id
        assert {k: v for k, v in got.items() if k != "days"} == {
            k: v for k, v in want.items() if k != "days"
        }, account_id
        projected += sum(d is not None for d in got["days"].values())
    assert projected > 0  # some account's usage is on its way to a limit
    assert seen[-1] == seen[2] and seen[0] == seen[12]


def test_the_engine_copies_only_the_usage_the_page_reads(teamflow: Source) -> None:
    views = AccountViews(teamflow, engines=1, days=DAYS)
    try:
        views.view("acc_00001", AS_OF)
        (engine,) = views._made
        first = engine.narrow.source.table("usage_daily").date.min().to_pyarrow().as_py()
        compiled = engine.queries[AS_OF]
    finally:
        views.close()
    # what the 90-day projection window can see from the as-of day (it is longer than the
    # chart and the seat utilisation windows), no more
    assert compiled.since == {"usage_daily": AS_OF - dt.timedelta(days=90)}
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

"""Built-in signals on a hand-made source, and that nothing after the as-of day is read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from headroom.errors import ConfigError
from headroom.playbook.expressions import SignalType, compile_condition, parse
from headroom.signals.registry import (
    Context,
    catalogue,
    missing_tables,
    signal,
    signal_table,
    streak,
    types,
)
from headroom.sources import Source, load
from tests.signals.helpers import starter_account

AS_OF = dt.date(2026, 3, 10)
FILES = {
    "accounts.csv": (
        "account_id,segment,health,onboarded_on\n"
        "a1,smb,healthy,2025-01-20\n"
        "a2,enterprise,at_risk,2026-03-11\n"
    ),
    "plans.csv": "plan,rank\nStarter,1\nBusiness,3\n",
    "subscriptions.csv": (
        "subscription_id,account_id,start_date,end_date,mrr,plan,seats,renews_on\n"
        "s1,a1,2025-01-10,2026-02-01,100,Starter,10,\n"
        "s2,a1,2026-02-01,,200,Starter,20,2027-02-01\n"
        "s3,a2,2025-06-01,,3000,Business,100,2026-06-01\n"
        "s4,a2,2026-03-11,,500,Business,20,\n"  # starts the day after: not read
    ),
    "usage_daily.csv": (
        "account_id,date,metric,value\n"
        "a1,2026-03-09,active_users,15\n"
        "a1,2026-03-10,active_users,18\n"
        "a1,2026-03-10,power_users,4\n"
        "a1,2026-03-11,active_users,20\n"  # the day after: not read
        "a2,2026-02-01,active_users,90\n"  # stale by the as-of day
    ),
}


@pytest.fixture
def source(tmp_path: Path) -> Any:
    folder = tmp_path / "src"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text)
    src = load(folder, today=dt.date(2026, 12, 31))
    yield src
    src.close()


def rows(source: Source, names: set[str], day: dt.date = AS_OF) -> dict[str, dict[str, Any]]:
    with Context(source, day) as ctx:
        t = signal_table(ctx, names).drop("day")
        return {r["account_id"]: r for r in t.to_pyarrow().to_pylist()}


def test_subscription_and_account_signals(source: Source) -> None:
    got = rows(source, {"mrr", "acv", "seats", "tier", "tier_rank", "days_to_renewal",
                        "tenure_days", "segment", "onboarded", "paying"})  # fmt: skip
    assert got["a1"] == {
        "account_id": "a1", "mrr": 200.0, "acv": 2400.0, "seats": 20.0, "tier": "Starter",
        "tier_rank": 1.0, "days_to_renewal": 328.0, "tenure_days": 424.0, "segment": "smb",
        "onboarded": True, "paying": True,
    }  # fmt: skip
    assert got["a2"]["mrr"] == 3000.0  # s4 starts after the as-of day
    assert got["a2"]["days_to_renewal"] == 83.0
    assert got["a2"]["onboarded"] is False  # onboarded the day after


def test_usage_signals_read_the_latest_fresh_value(source: Source) -> None:
    got = rows(source, {"active_users", "power_users", "seat_utilisation"})
    assert (got["a1"]["active_users"], got["a1"]["power_users"]) == (18.0, 4.0)
    assert got["a1"]["seat_utilisation"] == pytest.approx(18 / 20)
    assert got["a2"]["active_users"] is None  # five weeks old: stale
    assert got["a2"]["seat_utilisation"] is None


def test_conditions_compile_over_the_signal_table(source: Source) -> None:
    cond = parse("seat_utilisation > 0.85 and tier in ('Starter', 'Professional')", types())
    with Context(source, AS_OF) as ctx:
        t = signal_table(ctx, cond.names())
        fired = t.filter(compile_condition(cond, t)).account_id.to_pyarrow().to_pylist()
    assert fired == ["a1"]


def test_the_catalogue_says_what_a_source_cannot_feed(tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,mrr\ns1,a1,2025-01-01,10\n"
    )
    src = load(folder, today=AS_OF)
    try:
        assert missing_tables(src, {"tier", "seat_utilisation", "mrr"}) == {
            "seat_utilisation": ["usage_daily"],
            "tier": ["plans"],
        }
    finally:
        src.close()


def test_a_users_signal_registers_like_a_built_in(source: Source) -> None:
    @signal("seats_free", SignalType.number, "seats not in use")
    def seats_free(ctx: Context) -> Any:
        t = signal_table(ctx, {"seats", "active_users"})
        return t.select("account_id", "day", seats_free=t.seats - t.active_users)

    try:
        assert catalogue()["seats_free"].type == SignalType.number
        assert rows(source, {"seats_free"})["a1"]["seats_free"] == 2.0
        with pytest.raises(ConfigError) as err:
            signal("seats_free", SignalType.number, "again")(lambda ctx: ctx.table("accounts"))
        assert str(err.value) == (
            "signal 'seats_free' is registered twice; give one of the signals another name"
        )
    finally:
        from headroom.signals import registry

        registry._CATALOGUE.pop("seats_free")


def persistence_source(tmp_path: Path, high_days: int) -> Any:
    """One account with 10 seats: 7 active users until 2026-03-01, 9 from then for N days."""
    folder = tmp_path / f"p{high_days}"
    folder.mkdir()
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,mrr,seats\ns1,a1,2025-01-01,100,10\n"
    )
    lines = ["account_id,date,metric,value\n"]
    for i in range(40):
        day = dt.date(2026, 2, 1) + dt.timedelta(days=i)
        high = dt.date(2026, 3, 1) <= day < dt.date(2026, 3, 1) + dt.timedelta(days=high_days)
        lines.append(f"a1,{day},active_users,{9 if high else 7}\n")
    (folder / "usage_daily.csv").write_text("".join(lines))
    return load(folder, today=dt.date(2026, 12, 31))


@pytest.mark.parametrize(("high_days", "expected"), [(6, 0), (7, 7), (12, 7)])
def test_streak_counts_consecutive_days_up_to_the_as_of_day(
    tmp_path: Path, high_days: int, expected: int
) -> None:
    """Over 85% from 2026-03-01, as of 2026-03-07: six high days end on 03-06, so the streak
    is broken on the 7th (0); seven or more reach it (7, capped by the spine of 8 days).
    """
    src = persistence_source(tmp_path, high_days)
    try:
        as_of = dt.date(2026, 3, 7)
        cond = parse("seat_utilisation > 0.85", types())
        with Context(src, as_of, history=8) as ctx:
            table = signal_table(ctx, cond.names())
            got = streak(table, compile_condition(cond, table), as_of).to_pyarrow().to_pylist()
    finally:
        src.close()
    assert got == [{"account_id": "a1", "days": expected}]


def test_data_after_the_as_of_day_changes_nothing(tmp_path: Path) -> None:
    src = persistence_source(tmp_path, 30)
    other = persistence_source(tmp_path, 3)
    try:
        as_of = dt.date(2026, 3, 2)  # both sources agree up to here; they differ after
        results = []
        for s in (src, other):
            with Context(s, as_of, history=5) as ctx:
                table = signal_table(ctx, {"seat_utilisation", "mrr"})
                results.append(table.order_by("day").to_pyarrow().to_pylist())
    finally:
        src.close()
        other.close()
    assert results[0] == results[1]


def test_event_counts_over_a_trailing_window(tmp_path: Path) -> None:
    folder = tmp_path / "ev"
    folder.mkdir()
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,mrr\ns1,a1,2025-01-01,10\ns2,a2,2025-01-01,10\n"
    )
    (folder / "events.csv").write_text(
        "event_id,account_id,event,timestamp\n"
        "e1,a1,integration_page_view,2026-02-08T10:00:00Z\n"  # 31 days before: outside
        "e2,a1,integration_page_view,2026-02-09T10:00:00Z\n"  # 30 days window starts here
        "e3,a1,integration_page_view,2026-03-10T23:30:00Z\n"
        "e4,a1,pricing_page_view,2026-03-10T10:00:00Z\n"
        "e5,a1,integration_page_view,2026-03-11T00:30:00Z\n"  # after the day: not read
    )
    src = load(folder, today=dt.date(2026, 12, 31))
    try:
        got = rows(src, {"events_integration_page_view_30d", "events_pricing_page_view_1d"})
    finally:
        src.close()
    assert got["a1"]["events_integration_page_view_30d"] == 2.0
    assert got["a1"]["events_pricing_page_view_1d"] == 1.0
    assert got["a2"]["events_integration_page_view_30d"] == 0.0
    assert types()["events_anything_7d"] == SignalType.number


def test_limit_shares_per_billing_cycle_and_gauge(tmp_path: Path) -> None:
    """Subscription started on the 15th: the cycle of 2026-03-10 began on 2026-02-15."""
    folder = tmp_path / "lim"
    starter_account(folder)
    lines = ["account_id,date,metric,value\n"]
    for i in range(40):  # 2026-02-01 .. 2026-03-12, 10 runs a day; storage grows 0.1 a day
        day = dt.date(2026, 2, 1) + dt.timedelta(days=i)
        lines.append(f"a1,{day},automation_runs,10\n")
        lines.append(f"a1,{day},storage_gb,{10 + i / 10:.1f}\n")
    (folder / "usage_daily.csv").write_text("".join(lines))
    src = load(folder, today=dt.date(2026, 12, 31))
    try:
        got = rows(src, {"limit_share_automation_runs", "limit_share_storage_gb"})["a1"]
        feb = rows(src, {"limit_share_automation_runs"}, dt.date(2026, 2, 14))["a1"]
    finally:
        src.close()
    # 2026-02-15 .. 2026-03-10 is 24 days of 10 runs: 240 of 1,000.
    assert got["limit_share_automation_runs"] == pytest.approx(0.24)
    # The gauge's latest value on 2026-03-10 (day 37 of the data): 13.7 of 20.
    assert got["limit_share_storage_gb"] == pytest.approx(13.7 / 20)
    # On 2026-02-14 the cycle began 2026-01-15, but data starts 2026-02-01: 14 days.
    assert feb["limit_share_automation_runs"] == pytest.approx(0.14)


def test_headcount_growth(tmp_path: Path) -> None:
    folder = tmp_path / "hc"
    folder.mkdir()
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,mrr\ns1,a1,2025-01-01,10\n"
    )
    (folder / "firmographics.csv").write_text(
        "account_id,date,headcount\n"
        "a1,2025-12-01,100\n"
        "a1,2026-01-01,110\n"
        "a1,2026-03-01,120\n"
        "a1,2026-03-15,500\n"  # after the as-of day: not read
    )
    src = load(folder, today=dt.date(2026, 12, 31))
    try:
        got = rows(src, {"headcount_growth_90d"})["a1"]
    finally:
        src.close()
    # As of 2026-03-10: 120 now; 90 days earlier (2025-12-10) the latest figure was 100.
    assert got["headcount_growth_90d"] == pytest.approx(0.2)


def test_days_since_expansion_reads_the_expansions_up_to_the_day(source: Source) -> None:
    # a1 doubled its MRR on 2026-02-01; a2's new row starts the day after the as-of day
    got = rows(source, {"days_since_expansion"})
    assert got["a1"]["days_since_expansion"] == 37.0
    assert got["a2"]["days_since_expansion"] is None
    assert rows(source, {"days_since_expansion"}, dt.date(2026, 3, 11))["a2"] == {
        "account_id": "a2", "days_since_expansion": 0.0}  # fmt: skip
    assert rows(source, {"days_since_expansion"}, dt.date(2026, 1, 31))["a1"] == {
        "account_id": "a1", "days_since_expansion": None}  # fmt: skip

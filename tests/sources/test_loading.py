"""A valid source loads as typed tables; one with errors loads nothing and says why."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headroom.errors import SourceError
from headroom.sources import load
from headroom.sources.narrow import Narrow
from tests.sources.helpers import loaded_files, validate, write_source

TODAY = dt.date(2026, 11, 1)
NEW_YORK = ZoneInfo("America/New_York")
SUBSCRIPTIONS = (
    "subscription_id,account_id,start_date,end_date,mrr,plan,seats\n"
    "s1,a1,2024-01-01,2024-06-01,100.50,Starter,5\n"
    "s2,a1,2024-06-01,,200,Pro,10\n"
    "s3,a2,2024-03-15,,49.99,Starter,2\n"
)
ACCOUNTS = "account_id,name,segment,timezone\na1,Acme,smb,Europe/Berlin\na2,Beta,mid_market,\n"


def test_csv_source_loads_typed_tables(tmp_path: Path) -> None:
    folder = write_source(
        tmp_path / "data", {"subscriptions.csv": SUBSCRIPTIONS, "accounts.csv": ACCOUNTS}
    )
    source = load(folder, today=TODAY)
    try:
        schema = source.table("subscriptions").schema()
        rows = source.table("subscriptions").order_by("subscription_id").to_pyarrow().to_pylist()
        accounts = source.table("accounts").order_by("account_id").to_pyarrow().to_pylist()
        events = source.table("events").count().to_pyarrow().as_py()
        assert source.has("accounts") and not source.has("events")
    finally:
        source.close()
    assert {name: str(t) for name, t in schema.items()} == {
        "subscription_id": "string",
        "account_id": "string",
        "start_date": "date",
        "end_date": "date",
        "mrr": "decimal(18, 4)",
        "plan": "string",
        "seats": "int64",
        "renews_on": "date",
        "currency": "string",
    }
    assert rows[0] == {
        "subscription_id": "s1",
        "account_id": "a1",
        "start_date": dt.date(2024, 1, 1),
        "end_date": dt.date(2024, 6, 1),
        "mrr": Decimal("100.5"),
        "plan": "Starter",
        "seats": 5,
        "renews_on": dt.date(2024, 6, 1),  # defaults to end_date
        "currency": None,  # one currency throughout (here none named): as it is
    }
    assert rows[1]["end_date"] is None
    assert [a["timezone"] for a in accounts] == ["Europe/Berlin", "UTC"]  # default UTC
    assert events == 0  # absent tables load empty


def test_parquet_source_validates_and_loads_typed(tmp_path: Path, workspace: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    pq.write_table(
        pa.table(
            {
                "subscription_id": pa.array(["s1", "s2"]).dictionary_encode(),
                "account_id": ["a1", "a2"],
                # dates given as timestamps in a zone: the calendar day in that zone
                "start_date": pa.array(
                    [
                        dt.datetime(2024, 1, 1, 0, 0, tzinfo=NEW_YORK),
                        dt.datetime(2024, 2, 1, 23, 30, tzinfo=NEW_YORK),
                    ],
                    pa.timestamp("us", tz="America/New_York"),
                ),
                "end_date": pa.array([None, dt.date(2024, 5, 1)], pa.date32()),
                "mrr": pa.array([Decimal("10.25"), Decimal("3")], pa.decimal128(10, 2)),
                "seats": pa.array([3, 4], pa.int32()),
                "plan": pa.nulls(2),  # a column of nulls only
            }
        ),
        folder / "subscriptions.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "event_id": ["e1"],
                "account_id": ["a1"],
                "event": ["upgrade_click"],
                "timestamp": pa.array(
                    [dt.datetime(2024, 1, 2, 12, 0, tzinfo=dt.UTC)], pa.timestamp("ms", tz="UTC")
                ),
                "properties": ['{"feature": "sso"}'],
            }
        ),
        folder / "events.parquet",
    )
    run = validate(folder)
    assert run.code == 0, run.stdout
    assert run.out[0] == "pq: valid, 1 warning"
    source = load(folder, today=TODAY)
    try:
        subs = source.table("subscriptions").order_by("subscription_id").to_pyarrow().to_pylist()
        events = source.table("events").to_pyarrow().to_pylist()
    finally:
        source.close()
    assert [(r["start_date"], r["end_date"], r["mrr"], r["seats"], r["plan"]) for r in subs] == [
        (dt.date(2024, 1, 1), None, Decimal("10.25"), 3, None),
        (dt.date(2024, 2, 1), dt.date(2024, 5, 1), Decimal("3"), 4, None),
    ]
    assert events[0]["timestamp"] == dt.datetime(2024, 1, 2, 12, 0, tzinfo=dt.UTC)
    assert len(loaded_files(workspace)) == 1


def test_load_raises_with_every_error(tmp_path: Path, workspace: Path) -> None:
    bad = SUBSCRIPTIONS.replace("100.50", "-1").replace("2024-03-15", "2024-03-32")
    folder = write_source(tmp_path / "data", {"subscriptions.csv": bad})
    with pytest.raises(SourceError) as err:
        load(folder, today=TODAY)
    assert err.value.report.error_count() == 2
    assert str(err.value).splitlines() == [
        "data: 2 errors and 1 warning; nothing was loaded",
        "subscriptions.csv, line 2, column mrr: '-1' is negative; mrr must be a decimal number "
        ">= 0 such as 49.50",
        "subscriptions.csv, line 4, column start_date: '2024-03-32' is not a valid date; "
        "start_date must be a date written YYYY-MM-DD such as 2026-03-31",
    ]
    assert err.value.to_dict()["error"]["report"]["valid"] is False
    assert loaded_files(workspace) == []


def test_a_loaded_source_is_reused_until_a_file_changes(tmp_path: Path, workspace: Path) -> None:
    folder = write_source(tmp_path / "data", {"subscriptions.csv": SUBSCRIPTIONS})
    assert validate(folder).code == 0
    [first] = loaded_files(workspace)
    stamp = first.stat().st_mtime_ns
    assert validate(folder).code == 0
    assert loaded_files(workspace) == [first]
    assert first.stat().st_mtime_ns == stamp  # not loaded again

    path = folder / "subscriptions.csv"
    path.write_text(SUBSCRIPTIONS + "s4,a3,2024-01-01,,1,Pro,1\n")
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    run = validate(folder, "--format", "json")
    assert run.json()["tables"][0]["rows"] == 4
    [second] = loaded_files(workspace)
    assert second != first  # the old load is gone

    path.write_text(SUBSCRIPTIONS.replace("200", "-200"))
    assert validate(folder).code == 1
    assert loaded_files(workspace) == [second]  # a broken source replaces nothing


def test_usage_and_events_are_stored_in_the_order_runs_read_them(tmp_path: Path) -> None:
    # Runs read the last weeks of these tables, and signals a few usage metrics; stored metric
    # by metric in date order, the engine skips the other blocks by their min/max. The file
    # gives them account by account, newest first, metrics mixed.
    usage = "account_id,date,metric,value\n" + "".join(
        f"{a},2024-07-{d:02d},{m},{d}\n"
        for a in ("a1", "a2")
        for d in (9, 5, 2)
        for m in ("projects", "active_users")
    )
    events = "event_id,account_id,event,timestamp\n" + "".join(
        f"e{a}{d},{a},login,2024-07-{d:02d}T10:00:00Z\n" for a in ("a1", "a2") for d in (8, 3)
    )
    folder = write_source(
        tmp_path / "data",
        {
            "subscriptions.csv": SUBSCRIPTIONS,
            "accounts.csv": ACCOUNTS,
            "usage_daily.csv": usage,
            "events.csv": events,
        },
    )
    source = load(folder, today=TODAY)
    try:
        stored = {  # the engine's own scan order: no ORDER BY
            table: source.con.raw_sql(f"select {cols} from {table}").fetchall()
            for table, cols in (("usage_daily", "metric, date"), ("events", "timestamp"))
        }
    finally:
        source.close()
    assert [(m, d.day) for m, d in stored["usage_daily"]] == [
        (m, d) for m in ("active_users", "projects") for d in (2, 2, 5, 5, 9, 9)
    ]
    assert stored["events"] == sorted(stored["events"])


def test_accounts_are_numbered_and_usage_rows_carry_the_number(tmp_path: Path) -> None:
    # Usage is grouped and joined by a whole number, not its text id; a row of an account
    # the accounts table lacks (kept, with a warning) has none.
    usage = (
        "account_id,date,metric,value\n"
        "a2,2024-07-01,active_users,3\n"
        "a9,2024-07-01,active_users,4\n"
        "a1,2024-07-01,active_users,5\n"
    )
    accounts = ACCOUNTS + "a0,Zero,smb,\n"  # numbered in account_id order, not the file's
    folder = write_source(
        tmp_path / "data",
        {"subscriptions.csv": SUBSCRIPTIONS, "accounts.csv": accounts, "usage_daily.csv": usage},
    )
    source = load(folder, today=TODAY)
    try:
        keys = source.table("accounts").select("account_id", "account_key").to_pyarrow()
        rows = source.table("usage_daily").select("account_id", "account_key").to_pyarrow()
    finally:
        source.close()
    assert sorted(keys.to_pylist(), key=lambda r: r["account_id"]) == [
        {"account_id": "a0", "account_key": 0},
        {"account_id": "a1", "account_key": 1},
        {"account_id": "a2", "account_key": 2},
    ]
    assert sorted(rows.to_pylist(), key=lambda r: r["account_id"]) == [
        {"account_id": "a1", "account_key": 1},
        {"account_id": "a2", "account_key": 2},
        {"account_id": "a9", "account_key": None},
    ]
    assert str(keys.schema.field("account_key").type) == "int32"


def test_a_narrow_engine_holds_only_one_accounts_rows(tmp_path: Path) -> None:
    usage = "account_id,date,metric,value\n" + "".join(
        f"{a},2024-07-0{d},active_users,{d}\n" for a in ("a1", "a2") for d in (1, 2)
    )
    events = "event_id,account_id,event,timestamp\ne1,a1,login,2024-07-01T10:00:00Z\n"
    folder = write_source(
        tmp_path / "data",
        {"subscriptions.csv": SUBSCRIPTIONS, "accounts.csv": ACCOUNTS,
         "usage_daily.csv": usage, "events.csv": events,
         "plans.csv": "plan,rank\nStarter,1\nPro,2\n"},
    )  # fmt: skip
    source = load(folder, today=TODAY)
    try:
        narrow = Narrow(source, ["accounts", "subscriptions", "usage_daily", "plans"])
        try:
            assert narrow.fill("a2")
            one = narrow.source
            count = {t: one.table(t).count().to_pyarrow().as_py() for t in
                     ("accounts", "subscriptions", "usage_daily", "plans", "events")}  # fmt: skip
            ids = set(one.table("usage_daily").account_id.to_pyarrow().to_pylist())
            assert not narrow.fill("a9")  # refilled: a2's rows are gone
            assert one.table("usage_daily").count().to_pyarrow().as_py() == 0
        finally:
            narrow.close()
    finally:
        source.close()
    # a2's rows; the plan tables whole; a table not asked for is there, empty
    assert count == {"accounts": 1, "subscriptions": 1, "usage_daily": 2, "plans": 2, "events": 0}
    assert ids == {"a2"}

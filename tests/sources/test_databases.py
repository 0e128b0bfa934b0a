"""Database sources: tables in PostgreSQL or in a DuckDB file, named by a source YAML file.

The PostgreSQL tests need a server at ``HEADROOM_TEST_DATABASE_URL`` (skipped without one, failed
in CI); each works in a schema of its own and drops it afterwards.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from headroom.sources import load
from tests.sources.helpers import loaded_files, validate

NEGATIVE = "mrr must be a decimal number >= 0 such as 49.50"


def test_postgresql_tables_are_a_source(
    tmp_path: Path, workspace: Path, pg_schema: tuple[str, str, Any]
) -> None:
    url, schema, con = pg_schema
    con.execute(
        f"create table {schema}.accounts (account_id text primary key, name text, "
        "segment text, timezone text)"
    )
    con.execute(
        f"insert into {schema}.accounts values ('a1', 'Acme', 'smb', 'Europe/Berlin'), "
        "('a2', 'Beta', 'enterprize', null)"
    )
    con.execute(
        f"create table {schema}.periods (id uuid, customer text, start_date date, "
        "end_date date, amount numeric(12, 2), seats integer)"
    )
    con.execute(
        f"insert into {schema}.periods values "
        "('00000000-0000-0000-0000-000000000002', 'a1', '2024-02-01', null, -2, 1), "
        "('00000000-0000-0000-0000-000000000001', 'a1', '2024-01-01', '2024-02-01', 10.5, 3), "
        "('00000000-0000-0000-0000-000000000003', 'a3', '2024-01-01', null, 4, 1)"
    )
    con.execute(
        f"create table {schema}.events (event_id text, account_id text, event text, "
        "timestamp timestamptz, properties jsonb)"
    )
    con.execute(
        f"insert into {schema}.events values "
        """('e1', 'a1', 'upgrade_click', '2024-01-02 12:00+02', '{"feature": "sso"}')"""
    )
    config = tmp_path / "crm.yaml"
    config.write_text(
        f"database:\n  url: {url}\n  schema: {schema}\n"
        "tables:\n"
        "  subscriptions:\n"
        "    from: periods\n"
        "    columns: {subscription_id: id, account_id: customer, mrr: amount}\n"
    )
    run = validate(config)
    assert run.code == 1
    assert run.out[0] == "crm: 3 errors and 1 warning; nothing was loaded"
    assert run.errors == [
        "table accounts, row 2 (account_id 'a2'), column segment: 'enterprize' is not a valid "
        "segment (did you mean enterprise?); segment must be one of smb, mid_market, enterprise",
        "table periods, row 2 (subscription_id '00000000-0000-0000-0000-000000000002'), column "
        f"mrr: '-2.00' is negative; {NEGATIVE}",
        # a mapped table may be an invoice export, whose credit notes are negative
        "  what to do: a negative amount is a credit note: if these rows are invoices, add "
        "amounts: per_period under tables: subscriptions in the source's mapping",
        "table periods, row 3 (subscription_id '00000000-0000-0000-0000-000000000003'), column "
        "account_id: 'a3' is not in table accounts; add the account_id to accounts or fix this "
        "row",
    ]
    assert run.warnings == [
        "table accounts: 1 account has no subscription rows",
        "  table accounts, row 2 (account_id 'a2'), column account_id: 'a2' has no subscription "
        "rows",
        "  what to do: prospects and trials without a priced period earn no MRR; that may be fine",
    ]
    assert loaded_files(workspace) == []

    con.execute(f"update {schema}.periods set amount = 2 where amount < 0")
    con.execute(f"update {schema}.periods set customer = 'a2' where customer = 'a3'")
    con.execute(f"update {schema}.accounts set segment = 'enterprise'")
    run = validate(config)
    assert run.code == 0, run.stdout + run.err
    source = load(config, today=dt.date(2026, 11, 1))
    try:
        subs = source.table("subscriptions").order_by("start_date", "mrr").to_pyarrow()
        events = source.table("events").to_pyarrow().to_pylist()
        accounts = source.table("accounts").order_by("account_id").to_pyarrow().to_pylist()
    finally:
        source.close()
    assert subs["mrr"].to_pylist() == [Decimal("4"), Decimal("10.5"), Decimal("2")]
    assert subs["start_date"].to_pylist()[0] == dt.date(2024, 1, 1)
    assert events[0]["timestamp"] == dt.datetime(2024, 1, 2, 10, 0, tzinfo=dt.UTC)
    assert events[0]["properties"] == '{"feature": "sso"}'
    assert [a["timezone"] for a in accounts] == ["Europe/Berlin", "UTC"]


def test_a_table_the_mapping_names_must_exist(
    tmp_path: Path, pg_schema: tuple[str, str, Any]
) -> None:
    url, schema, con = pg_schema
    con.execute(f"create table {schema}.subs (subscription_id text)")
    config = tmp_path / "crm.yaml"
    config.write_text(
        f"database:\n  url: {url}\n  schema: {schema}\n"
        "tables:\n  subscriptions:\n    from: subscription\n"
    )
    run = validate(config)
    assert run.code == 1
    assert run.errors == [
        f"table subscription: the mapping reads subscriptions from table 'subscription', which "
        f"is not in schema {schema}; its tables are subs"
    ]


def test_an_unreachable_database_is_a_clean_error(tmp_path: Path) -> None:
    config = tmp_path / "db.yaml"
    config.write_text("database:\n  url: postgresql://nobody@127.0.0.1:1/none\n")
    run = validate(config)
    assert run.code == 1
    assert run.out == []
    assert run.err.startswith("error: db: cannot connect to the database (")
    assert run.err.endswith("); check database.url, and that the server is running and reachable\n")


# -- a DuckDB file --------------------------------------------------------------------------


def _duckdb_file(path: Path, mrr: str) -> None:
    """A DuckDB file crm.duckdb whose tables are in schema crm (so "crm" alone is ambiguous)."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema crm.crm")
        con.execute(
            "create table crm.crm.subscriptions (subscription_id text, account_id text, "
            "start_date date, end_date date, mrr decimal(10, 2), plan text)"
        )
        con.execute(
            "insert into crm.crm.subscriptions values "
            f"('s2', 'a1', date '2024-03-01', null, {mrr}, 'Pro'), "
            "('s1', 'a1', date '2024-01-01', date '2024-03-01', 10, 'Starter')"
        )
        con.execute("create table crm.crm.plans (plan text, rank integer)")
        con.execute("insert into crm.crm.plans values ('Starter', 1)")
        con.execute("create table crm.main.subscriptions (subscription_id text)")  # elsewhere


def test_a_duckdb_file_is_a_source(tmp_path: Path, workspace: Path) -> None:
    _duckdb_file(tmp_path / "crm.duckdb", "-1")
    config = tmp_path / "crm.yaml"
    config.write_text("database:\n  url: duckdb://crm.duckdb\n  schema: crm\n")
    run = validate(config)
    assert run.code == 1
    assert run.errors == [
        f"table subscriptions, row 2 (subscription_id 's2'), column mrr: '-1.00' is negative; "
        f"{NEGATIVE}",
        "table subscriptions, row 2 (subscription_id 's2'), column plan: 'Pro' is not in table "
        "plans; add the plan to plans or fix this row",
    ]
    assert loaded_files(workspace) == []

    with duckdb.connect(str(tmp_path / "crm.duckdb")) as con:
        con.execute("update crm.crm.subscriptions set mrr = 20, plan = 'Starter' where mrr < 0")
    run = validate(config, "--format", "json")
    assert run.code == 0, run.stdout
    assert [(t["table"], t["file"], t["rows"]) for t in run.json()["tables"]] == [
        ("subscriptions", "table subscriptions", 2),
        ("plans", "table plans", 1),
    ]
    source = load(config, today=dt.date(2026, 11, 1))
    try:
        rows = source.table("subscriptions").order_by("start_date").to_pyarrow().to_pylist()
    finally:
        source.close()
    assert [(r["subscription_id"], r["mrr"], r["renews_on"]) for r in rows] == [
        ("s1", Decimal("10"), dt.date(2024, 3, 1)),
        ("s2", Decimal("20"), None),
    ]


def test_a_missing_duckdb_file_is_not_created(tmp_path: Path) -> None:
    config = tmp_path / "crm.yaml"
    config.write_text("database:\n  url: duckdb://data/crm.duckdb\n")
    run = validate(config)
    assert run.code == 1
    assert run.err == (
        f"error: crm.yaml:2:8: the database file {tmp_path / 'data' / 'crm.duckdb'} does not "
        "exist; write its path absolute (duckdb:///path/file.duckdb) or relative to this file\n"
    )
    assert not (tmp_path / "data").exists()

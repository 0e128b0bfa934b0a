"""Source configurations: mappings that work, and mistakes reported at file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sources.helpers import headroom, validate, write_source

GOOD_SUBS = "subscription_id,account_id,start_date,mrr\ns1,a1,2024-01-01,10\n"
TABLE_NAMES = (
    "accounts, subscriptions, plans, plan_limits, plan_features, usage_daily, events, "
    "firmographics, outcomes, exchange_rates"
)
SUBSCRIPTION_COLUMNS = (
    "subscription_id, account_id, start_date, end_date, mrr, plan, seats, renews_on, currency"
)
MAPPING_SETTINGS = "from, columns, lookup, combine, amounts, end, read, skip, keep, credits"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        pytest.param(
            "tables:\n  subscriptions:\n    form: x.csv\n",
            "map.yaml:3:5: unknown setting 'form' (did you mean 'from'?); the settings here are "
            f"{MAPPING_SETTINGS}",
            id="unknown-setting",
        ),
        pytest.param(
            "tables:\n  subscriptions:\n    colums:\n      mrr: amount\n",
            "map.yaml:3:5: unknown setting 'colums' (did you mean 'columns'?); the settings here "
            f"are {MAPPING_SETTINGS}",
            id="unknown-setting-over-a-mapping",
        ),
        pytest.param(
            "# a mapping\ntabels:\n  subscriptions: {}\n",
            "map.yaml:2:1: unknown setting 'tabels' (did you mean 'tables'?); the settings here "
            "are path, database, tables, data_through, currency",
            id="unknown-top-level-setting",
        ),
        pytest.param(
            "tables:\n  subscriptions:\n    from: x.csv\n  acounts:\n    from: y.csv\n",
            f"map.yaml:4:3: unknown table 'acounts' (did you mean 'accounts'?); the tables are "
            f"{TABLE_NAMES}",
            id="unknown-table",
        ),
        pytest.param(
            "tables:\n  deals: {}\n",
            f"map.yaml:2:3: unknown table 'deals'; the tables are {TABLE_NAMES}",
            id="unknown-table-no-suggestion",
        ),
        pytest.param(
            "tables:\n  subscriptions:\n    columns:\n      mrr: amount\n      bogus: x\n",
            f"map.yaml:5:7: subscriptions has no column 'bogus'; its columns are "
            f"{SUBSCRIPTION_COLUMNS}; write mappings as ours: theirs",
            id="unknown-column",
        ),
        pytest.param(
            "tables:\n  subscriptions:\n    columns: {customer_id: account_id}\n",
            f"map.yaml:3:15: subscriptions has no column 'customer_id'; its columns are "
            f"{SUBSCRIPTION_COLUMNS}; write mappings as ours: theirs, here account_id: "
            "customer_id",
            id="mapping-written-backwards",
        ),
        pytest.param(
            "tables:\n  subscriptions:\n    columns: [a, b\n",
            "map.yaml:4:1: YAML syntax error: expected ',' or ']', but got '<stream end>'; check "
            "indentation, colons and quotes around that spot",
            id="yaml-syntax",
        ),
        pytest.param(
            "tables:\n\tsubscriptions: {}\n",
            "map.yaml:2:1: YAML syntax error: found character '\\t' that cannot start any token; "
            "check indentation, colons and quotes around that spot",
            id="yaml-tab",
        ),
        pytest.param(
            "tables:\n  subscriptions:\n    from: a.csv\n    from: b.csv\n",
            "map.yaml:4:5: 'from' is given twice (first on line 3); keep one of them",
            id="repeated-key",
        ),
        pytest.param(
            "tables:\n  usage_daily:\n    combine: add\n",
            "map.yaml:3:14: tables.usage_daily.combine: 'add' is not a choice; input should be "
            "'reject', 'sum' or 'first'",
            id="bad-choice",
        ),
        pytest.param(
            "tables:\n  accounts:\n    combine: sum\n",
            "map.yaml:3:14: combine applies to usage_daily only",
            id="combine-elsewhere",
        ),
        pytest.param(
            "tables:\n  subscriptions: 3\n",
            "map.yaml:2:18: tables.subscriptions: expected a mapping of names to settings (name: "
            "value, one per line), got 3",
            id="not-a-mapping",
        ),
        pytest.param(
            "tables:\n",
            "map.yaml:1:8: tables: expected a mapping of names to settings (name: value, one per "
            "line), got nothing",
            id="empty-setting",
        ),
        pytest.param(
            "tables:\n  subscriptions:\n    columns: {mrr: 5}\n",
            "map.yaml:3:20: tables.subscriptions.columns.mrr: expected text, got 5",
            id="number-for-a-name",
        ),
        pytest.param(
            "- subscriptions\n",
            "map.yaml:1:1: expected a mapping of settings at the top of the file",
            id="top-level-list",
        ),
        pytest.param(
            "tables:\n  usage_daily:\n    lookup:\n      account_id: {table: subs, on: x}\n",
            "map.yaml:4:27: unknown table 'subs' in lookup",
            id="lookup-table",
        ),
    ],
)
def test_mapping_errors_point_at_line_and_column(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    data = write_source(tmp_path / "data", {"subscriptions.csv": GOOD_SUBS})
    (tmp_path / "map.yaml").write_text(yaml_text)
    run = validate(data, "--mapping", str(tmp_path / "map.yaml"))
    assert run.code == 1
    assert run.out == []
    assert run.err == f"error: {message}\n"


def test_a_mapping_that_is_not_utf8(tmp_path: Path) -> None:
    data = write_source(tmp_path / "data", {"subscriptions.csv": GOOD_SUBS})
    (tmp_path / "map.yaml").write_bytes(b"tables:\n  accounts: {from: M\xfcller.csv}\n")
    run = validate(data, "--mapping", str(tmp_path / "map.yaml"))
    assert run.err == "error: map.yaml:2:21: byte 0xfc is not UTF-8 text; save the file as UTF-8\n"


def test_a_missing_mapping_file(tmp_path: Path) -> None:
    data = write_source(tmp_path / "data", {"subscriptions.csv": GOOD_SUBS})
    run = validate(data, "--mapping", str(tmp_path / "nowhere.yaml"))
    assert run.code == 1
    assert run.err == (
        f"error: {tmp_path / 'nowhere.yaml'}: no such file; check the path, or pass a data "
        "folder instead\n"
    )


def test_source_file_errors(tmp_path: Path) -> None:
    write_source(tmp_path / "data", {"subscriptions.csv": GOOD_SUBS})
    config = tmp_path / "source.yaml"
    config.write_text("path: dta\n")
    assert validate(config).err == (
        "error: source.yaml:1:7: path 'dta' is not a folder; write the data folder's path "
        "relative to this file\n"
    )
    config.write_text("path: data\ndatabase:\n  url: postgresql://localhost/x\n")
    assert validate(config).err == (
        "error: source.yaml:1:7: give either path or database, not both\n"
    )
    config.write_text("database:\n  schema: crm\n")
    assert validate(config).err == "error: source.yaml:2:3: missing setting 'database.url'\n"
    config.write_text("path: data\n")
    assert validate(config, "--mapping", str(config)).err == (
        "error: --mapping applies to a data folder, not to a configuration file; put the "
        "mapping into the configuration file, or pass the folder\n"
    )


def test_a_mapping_renames_columns_and_reads_other_file_names(tmp_path: Path) -> None:
    write_source(
        tmp_path / "data",
        {
            "periods.csv": "id,customer,from_day,amount,notes\np1,c1,2024-01-01,10,x\n",
            "notes.txt": "not data",
        },
    )
    (tmp_path / "source.yaml").write_text(
        "path: data\n"
        "tables:\n"
        "  subscriptions:\n"
        "    from: periods.csv\n"
        "    columns: {subscription_id: id, account_id: customer, start_date: from_day, "
        "mrr: amount}\n"
    )
    run = validate(tmp_path / "source.yaml", "--format", "json")
    assert run.code == 0
    report = run.json()
    assert report["source"] == "source"
    assert report["ignored_files"] == ["notes.txt"]
    assert report["tables"] == [
        {"table": "subscriptions", "file": "periods.csv", "rows": 1, "ignored_columns": ["notes"]}
    ]


def test_problems_of_mapped_files(tmp_path: Path) -> None:
    data = write_source(tmp_path / "data", {"periods.csv": "id,customer,from_day,amt\n"})
    (tmp_path / "map.yaml").write_text(
        "tables:\n"
        "  subscriptions:\n"
        "    from: periods.csv\n"
        "    columns: {subscription_id: id, account_id: customer, start_date: from_day, "
        "mrr: amount}\n"
        "  accounts:\n"
        "    from: customers.csv\n"
    )
    run = validate(data, "--mapping", str(tmp_path / "map.yaml"))
    assert run.code == 1
    assert run.section("Errors") == [
        "customers.csv: the mapping reads accounts from 'customers.csv', which is not in the "
        "folder",
        "periods.csv, line 1: column 'amount', mapped to mrr, is not in the header; the header "
        "has id, customer, from_day, amt",
    ]


def test_a_lookup_fills_a_column_from_another_table(tmp_path: Path) -> None:
    data = write_source(
        tmp_path / "data",
        {
            "subscriptions.csv": GOOD_SUBS + "s2,a2,2024-01-01,10\n",
            "usage.csv": "subscription_id,day,feature,count\n"
            "s1,2024-02-01,export,3\n"
            "s2,2024-02-01,export,1\n"
            "s2,2024-02-01,export,2\n"
            "s9,2024-02-01,export,2\n",
        },
    )
    (tmp_path / "map.yaml").write_text(
        "tables:\n"
        "  usage_daily:\n"
        "    from: usage.csv\n"
        "    columns: {date: day, metric: feature, value: count}\n"
        "    lookup:\n"
        "      account_id: {table: subscriptions, on: subscription_id}\n"
        "    combine: sum\n"
    )
    run = validate(data, "--mapping", str(tmp_path / "map.yaml"))
    assert run.code == 1
    assert run.errors == [
        "usage.csv, line 5, column subscription_id: 's9' is not in subscriptions, so the row's "
        "account_id cannot be looked up; add the subscription_id to subscriptions or remove this "
        "row"
    ]
    (data / "usage.csv").write_text(
        (data / "usage.csv").read_text().replace("s9,2024-02-01", "s1,2024-02-02")
    )
    run = validate(data, "--mapping", str(tmp_path / "map.yaml"))
    assert run.code == 0
    assert run.warnings == [
        "accounts: no accounts table: accounts are taken from the subscriptions' account_id",
        "  what to do: add accounts.csv for segments, time zones, owners and health; without it "
        "routing and reports by segment see every account as unknown",
        "usage.csv: 1 row repeats an earlier (account_id, date, metric)",
        "  usage.csv, line 4: account_id 'a2', date '2024-02-01', metric 'export' repeats line 3; "
        "combined (sum)",
        "  what to do: the mapping says combine: sum",
    ]


def test_a_source_argument_that_is_not_a_source(tmp_path: Path) -> None:
    csv_file = write_source(tmp_path / "data", {"subscriptions.csv": GOOD_SUBS})
    run = headroom("validate", str(csv_file / "subscriptions.csv"))
    assert run.code == 1
    assert run.err == (
        "error: subscriptions.csv: a source is a folder of tables or a .yaml configuration file; "
        "pass the folder that holds subscriptions.csv instead\n"
    )
    run = headroom("validate", str(tmp_path / "nowhere"))
    assert run.err == (
        f"error: {tmp_path / 'nowhere'}: no such folder or file; pass a folder of <table>.csv "
        "or <table>.parquet files, or a source YAML file\n"
    )


def test_a_lookup_through_a_column_the_table_lacks(tmp_path: Path) -> None:
    data = write_source(
        tmp_path / "data",
        {
            "subscriptions.csv": GOOD_SUBS,
            "usage.csv": "sub,day,feature,count\ns1,2024-02-01,export,3\n",
        },
    )
    (tmp_path / "map.yaml").write_text(
        "tables:\n"
        "  usage_daily:\n"
        "    from: usage.csv\n"
        "    columns: {date: day, metric: feature, value: count}\n"
        "    lookup:\n"
        "      account_id: {table: subscriptions, on: sub}\n"
    )
    run = validate(data, "--mapping", str(tmp_path / "map.yaml"))
    assert run.code == 1
    assert run.errors == [
        "usage.csv: account_id is looked up in subscriptions by sub, but subscriptions has no "
        "column sub"
    ]

"""Mappings, reference data, Parquet and database sources, and mangled CSV files."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.errors import SourceError
from headroom.sources import load
from tests import parts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sources"
GOOD_SUBS = (
    "subscription_id,account_id,start_date,end_date,mrr,plan,seats\n"
    "s1,a1,2024-01-01,2024-06-01,100.50,Starter,5\n"
    "s2,a1,2024-06-01,,200,Pro,10\n"
    "s3,a2,2024-03-15,,49.99,Starter,2\n"
)
GOOD_ACCOUNTS = "account_id,name,segment,timezone\na1,Acme,smb,Europe/Berlin\na2,Beta,mid_market,\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--today", "2026-01-01"])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def folder_with(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


# -- mapping files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "tables:\n  subscriptions:\n    form: x.csv\n",
            "map.yaml:3:11: unknown setting 'form' (did you mean 'from'?); the settings here "
            "are from, columns, lookup, combine",
        ),
        (
            "tables:\n  subscription:\n    from: x.csv\n",
            "map.yaml:2:3: tables: unknown table 'subscription' (did you mean 'subscriptions'?); "
            "the tables are accounts, subscriptions, plans, plan_limits, plan_features, "
            "usage_daily, events, firmographics, outcomes",
        ),
        (
            "tables:\n  subscriptions:\n    columns: [a, b\n",
            "map.yaml:4:1: YAML syntax error: expected ',' or ']', but got '<stream end>'; check "
            "indentation, colons and quotes around that spot",
        ),
        (
            "tables:\n  usage_daily:\n    combine: add\n",
            "map.yaml:3:14: tables.usage_daily.combine: Input should be 'reject', 'sum' or 'first'",
        ),
    ],
    ids=["unknown-setting", "unknown-table", "yaml-syntax", "bad-choice"],
)
def test_mapping_errors_point_at_line_and_column(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    data = folder_with(tmp_path, {"subscriptions.csv": GOOD_SUBS})
    (tmp_path / "map.yaml").write_text(yaml_text)
    code, out, err = run("validate", str(data), "--mapping", str(tmp_path / "map.yaml"))
    assert code == 1
    assert out == ""
    assert err == f"error: {message}\n"


def test_mapping_renames_columns_and_reads_other_file_names(tmp_path: Path) -> None:
    folder_with(
        tmp_path,
        {
            "periods.csv": "id,customer,from_day,amount\np1,c1,2024-01-01,10\n",
            "notes.txt": "not data",
        },
    )
    (tmp_path / "map.yaml").write_text(
        "path: data\n"
        "tables:\n"
        "  subscriptions:\n"
        "    from: periods.csv\n"
        "    columns: {subscription_id: id, account_id: customer, start_date: from_day, "
        "mrr: amount}\n"
    )
    code, out, _ = run("validate", str(tmp_path / "map.yaml"), "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["ignored_files"] == ["notes.txt"]
    assert report["tables"] == [
        {"table": "subscriptions", "file": "periods.csv", "rows": 1, "ignored_columns": []}
    ]


def test_a_missing_source_says_what_to_pass(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path / "nowhere"))
    assert code == 1
    assert err == (
        f"error: {tmp_path / 'nowhere'}: no such folder or file; pass a folder of <table>.csv "
        "or <table>.parquet files, or a source YAML file\n"
    )


# -- loading --------------------------------------------------------------------------------


def test_valid_source_loads_typed_tables(tmp_path: Path) -> None:
    data = folder_with(tmp_path, {"subscriptions.csv": GOOD_SUBS, "accounts.csv": GOOD_ACCOUNTS})
    source = load(data, today=dt.date(2026, 1, 1))
    try:
        rows = source.table("subscriptions").order_by("subscription_id").to_pyarrow().to_pylist()
        accounts = source.table("accounts").order_by("account_id").to_pyarrow().to_pylist()
        assert source.table("events").count().execute() == 0  # absent tables load empty
    finally:
        source.close()
    assert rows[0]["start_date"] == dt.date(2024, 1, 1)
    assert rows[0]["mrr"] == Decimal("100.5")
    assert rows[1]["end_date"] is None
    assert [a["timezone"] for a in accounts] == ["Europe/Berlin", "UTC"]  # default UTC


def test_parquet_source_loads_like_csv(tmp_path: Path) -> None:
    data = tmp_path / "pq"
    data.mkdir()
    pq.write_table(
        pa.table(
            {
                "subscription_id": ["s1", "s2"],
                "account_id": ["a1", "a2"],
                "start_date": pa.array([dt.date(2024, 1, 1), dt.date(2024, 2, 1)]),
                "end_date": pa.array([None, dt.date(2024, 5, 1)], pa.date32()),
                "mrr": pa.array([Decimal("10.25"), Decimal("3")], pa.decimal128(10, 2)),
                "seats": pa.array([3, 4], pa.int32()),
            }
        ),
        data / "subscriptions.parquet",
    )
    source = load(data, today=dt.date(2026, 1, 1))
    try:
        rows = source.table("subscriptions").order_by("subscription_id").to_pyarrow().to_pylist()
    finally:
        source.close()
    assert [(r["mrr"], r["seats"], r["end_date"]) for r in rows] == [
        (Decimal("10.25"), 3, None),
        (Decimal("3"), 4, dt.date(2024, 5, 1)),
    ]


def test_load_raises_with_every_error(tmp_path: Path) -> None:
    data = folder_with(tmp_path, {"subscriptions.csv": GOOD_SUBS.replace("100.50", "-1")})
    with pytest.raises(SourceError) as err:
        load(data, today=dt.date(2026, 1, 1))
    assert err.value.report.error_count() == 1
    assert str(err.value).splitlines()[1] == (
        "subscriptions.csv, line 2, column mrr: '-1' is negative; mrr must be a decimal number "
        ">= 0 such as 49.50"
    )


# -- reference data -------------------------------------------------------------------------


def test_mrr_playbook_seed_validates_with_its_mapping() -> None:
    seed = parts.refdata("mrr-playbook")
    code, out, _ = run("validate", str(seed), "--mapping", str(EXAMPLES / "mrr-playbook.yaml"))
    assert code == 0
    assert out.splitlines()[0] == "mrr-playbook: valid, 1 warning"


def test_ravenstack_gets_an_actionable_warnings_report() -> None:
    folder = parts.refdata("ravenstack")
    mapping = str(EXAMPLES / "ravenstack.yaml")
    code, out, _ = run("validate", str(folder), "--mapping", mapping, "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True
    counts = {p["code"]: p["count"] for p in report["problems"]}
    assert counts == {
        "empty_period": 13,
        "overlapping_subscriptions": 23_771,
        "combined_rows": 19,
        "usage_outside_subscription": 14_226,
    }
    assert all(len(p["examples"]) <= 5 and p["hint"] for p in report["problems"])
    code, out, _ = run("validate", str(folder), "--mapping", mapping)
    lines = out.splitlines()
    assert lines[0] == "ravenstack: valid, 4 kinds of warning (38,029 rows)"
    assert (
        "ravenstack_subscriptions.csv: 23,771 pairs of subscription rows overlap, in 500 accounts"
        in lines
    )
    assert len(lines) < 60  # counts and first examples, not 38,029 lines


# -- databases ------------------------------------------------------------------------------


def test_postgresql_tables_are_a_source(tmp_path: Path) -> None:
    url = parts.database_url()
    sqlalchemy_url = url  # psycopg understands the same URL
    import psycopg

    schema = f"headroom_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(sqlalchemy_url, autocommit=True) as con:
        con.execute(f"create schema {schema}")
        try:
            con.execute(
                f"create table {schema}.subscriptions (subscription_id text, account_id text, "
                "start_date date, end_date date, mrr numeric(12, 2), seats integer)"
            )
            con.execute(
                f"insert into {schema}.subscriptions values "
                "('s1', 'a1', '2024-01-01', null, 10.5, 3), ('s2', 'a1', '2024-02-01', null, -2, 1)"
            )
            config = tmp_path / "pg.yaml"
            config.write_text(f"database:\n  url: {url}\n  schema: {schema}\n")
            code, out, err = run("validate", str(config))
            assert code == 1
            assert (
                "table subscriptions, row 2, column mrr: '-2.00' is negative; mrr must be a "
                "decimal number >= 0 such as 49.50" in out.splitlines()
            )
            con.execute(f"update {schema}.subscriptions set mrr = 2 where subscription_id = 's2'")
            code, out, err = run("validate", str(config))
            assert code == 0, out + err
            source = load(config, today=dt.date(2026, 1, 1))
            try:
                total = source.table("subscriptions").mrr.sum().to_pyarrow().as_py()
            finally:
                source.close()
            assert total == Decimal("12.5")
        finally:
            con.execute(f"drop schema {schema} cascade")


def test_unreachable_database_is_a_clean_error(tmp_path: Path) -> None:
    config = tmp_path / "db.yaml"
    config.write_text("database:\n  url: postgresql://nobody@127.0.0.1:1/none\n")
    code, _, err = run("validate", str(config))
    assert code == 1
    assert err.startswith("error: db: cannot connect to the database (")
    assert err.endswith("); check database.url, and that the server is running and reachable\n")


# -- mangled files --------------------------------------------------------------------------

VALID_BYTES = (GOOD_SUBS.encode(), GOOD_ACCOUNTS.encode())


@st.composite
def mangled(draw: st.DrawFn) -> tuple[bytes, bytes]:
    files = []
    for original in VALID_BYTES:
        data = bytearray(original)
        for _ in range(draw(st.integers(1, 6))):
            op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "dup_line"]))
            pos = draw(st.integers(0, max(len(data) - 1, 0)))
            if op == "insert":
                data[pos:pos] = draw(
                    st.sampled_from([b",", b'"', b"\n", b"\r\n", b"\x00", b"\xff\xfe", b";", b" "])
                    | st.binary(min_size=1, max_size=4)
                )
            elif op == "delete" and data:
                del data[pos : pos + draw(st.integers(1, 5))]
            elif op == "replace" and data:
                data[pos] = draw(st.integers(0, 255))
            elif op == "truncate":
                del data[pos:]
            elif op == "dup_line":
                lines = bytes(data).split(b"\n")
                k = draw(st.integers(0, len(lines) - 1))
                lines.insert(k, lines[k])
                data = bytearray(b"\n".join(lines))
        files.append(bytes(data))
    return files[0], files[1]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mangled())
def test_mangled_csv_gets_a_clean_answer(tmp_path: Path, files: tuple[bytes, bytes]) -> None:
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    (folder / "subscriptions.csv").write_bytes(files[0])
    (folder / "accounts.csv").write_bytes(files[1])
    result = CliRunner().invoke(app, ["validate", str(folder), "--today", "2026-01-01"])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert result.stderr.startswith("error: ")

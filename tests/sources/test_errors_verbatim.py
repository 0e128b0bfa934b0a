"""Broken sources get every problem, each with file, line, column, value and the fix, verbatim.

Each test writes a small source, runs ``headroom validate`` in-process and compares whole lines.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from headroom.cli.main import app

SUBS_HEADER = "subscription_id,account_id,start_date,mrr\n"
ONE_SUB = SUBS_HEADER + "s1,a1,2024-01-01,10\n"


def source(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


def validate(folder: Path, *extra: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(app, ["validate", str(folder), "--today", "2026-01-01", *extra])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout.splitlines(), result.stderr


def errors(lines: list[str]) -> list[str]:
    """The lines of the Errors section."""
    start = lines.index("Errors:") + 1
    end = lines.index("Warnings:") if "Warnings:" in lines else len(lines)
    return [line for line in lines[start:end] if line]


def assert_nothing_loaded(workspace: Path) -> None:
    assert not list(workspace.glob("sources/*.duckdb"))


def test_missing_required_column(tmp_path: Path, workspace: Path) -> None:
    folder = source(tmp_path, {"subscriptions.csv": "subscription_id,account_id,start_date\n"})
    code, out, err = validate(folder)
    assert code == 1
    assert errors(out) == [
        "subscriptions.csv, line 1: required column 'mrr' is missing; the header has "
        "subscription_id, account_id, start_date. Add the column, or map yours onto it in a "
        "source configuration (tables: {subscriptions: {columns: {mrr: <your column>}}})"
    ]
    assert err == "error: src: 1 error and 1 warning; nothing was loaded\n"
    assert_nothing_loaded(workspace)


def test_wrong_type(tmp_path: Path, workspace: Path) -> None:
    subs = "subscription_id,account_id,start_date,mrr,seats\ns1,a1,2024-01-01,10,twelve\n"
    code, out, _ = validate(source(tmp_path, {"subscriptions.csv": subs}))
    assert code == 1
    assert errors(out) == [
        "subscriptions.csv, line 2, column seats: 'twelve' is not a whole number; seats must be "
        "a whole number >= 0 such as 12"
    ]
    assert_nothing_loaded(workspace)


def test_bad_dates(tmp_path: Path) -> None:
    subs = SUBS_HEADER + "s1,a1,2024-02-30,10\ns2,a1,01/02/2024,10\n"
    code, out, _ = validate(source(tmp_path, {"subscriptions.csv": subs}))
    assert code == 1
    assert errors(out) == [
        "subscriptions.csv, line 2, column start_date: '2024-02-30' is not a valid date; "
        "start_date must be a date written YYYY-MM-DD such as 2026-03-31",
        "subscriptions.csv, line 3, column start_date: '01/02/2024' is not a valid date; "
        "start_date must be a date written YYYY-MM-DD such as 2026-03-31",
    ]


def test_negative_mrr(tmp_path: Path) -> None:
    code, out, _ = validate(
        source(tmp_path, {"subscriptions.csv": SUBS_HEADER + "s1,a1,2024-01-01,-20\n"})
    )
    assert code == 1
    assert errors(out) == [
        "subscriptions.csv, line 2, column mrr: '-20' is negative; mrr must be a decimal number "
        ">= 0 such as 49.50"
    ]


def test_duplicate_id(tmp_path: Path) -> None:
    subs = SUBS_HEADER + "s1,a1,2024-01-01,10\ns1,a1,2024-02-01,10\n"
    code, out, _ = validate(source(tmp_path, {"subscriptions.csv": subs}))
    assert code == 1
    assert errors(out) == [
        "subscriptions.csv, line 3, column subscription_id: subscription_id 's1' repeats line 2; "
        "subscription_id must be unique"
    ]


def test_unknown_account(tmp_path: Path) -> None:
    files = {
        "accounts.csv": "account_id,name\na1,Acme\n",
        "subscriptions.csv": SUBS_HEADER + "s1,a1,2024-01-01,10\ns2,a2,2024-02-01,10\n",
    }
    code, out, _ = validate(source(tmp_path, files))
    assert code == 1
    assert errors(out) == [
        "subscriptions.csv, line 3, column account_id: 'a2' is not in accounts.csv; add the "
        "account_id to accounts or fix this row"
    ]


def test_malformed_json_properties(tmp_path: Path) -> None:
    events = (
        "event_id,account_id,event,timestamp,properties\n"
        'e1,a1,upgrade_click,2024-01-02T10:00:00Z,"{""a"": 1}"\n'
        'e2,a1,upgrade_click,2024-01-02T10:00:00Z,"{feature: sso}"\n'
        'e3,a1,upgrade_click,2024-01-02T10:00:00Z,"[1,2]"\n'
    )
    code, out, _ = validate(source(tmp_path, {"subscriptions.csv": ONE_SUB, "events.csv": events}))
    assert code == 1
    assert errors(out) == [
        "events.csv, line 3, column properties: '{feature: sso}' is not a JSON object; "
        'properties must be a JSON object such as {"feature": "sso"}, or empty',
        "events.csv, line 4, column properties: '[1,2]' is not a JSON object; "
        'properties must be a JSON object such as {"feature": "sso"}, or empty',
    ]


def test_unknown_timezone(tmp_path: Path) -> None:
    accounts = "account_id,timezone\na1,Europe/Berlin\na2,Europe/Berlni\n"
    subs = SUBS_HEADER + "s1,a1,2024-01-01,10\ns2,a2,2024-01-01,10\n"
    code, out, _ = validate(source(tmp_path, {"accounts.csv": accounts, "subscriptions.csv": subs}))
    assert code == 1
    assert errors(out) == [
        "accounts.csv, line 3, column timezone: 'Europe/Berlni' is not an IANA time zone (did "
        "you mean Europe/Berlin?); timezone must be an IANA time zone such as Europe/Berlin"
    ]


def test_empty_file(tmp_path: Path) -> None:
    code, out, _ = validate(source(tmp_path, {"subscriptions.csv": ""}))
    assert code == 1
    assert errors(out) == [
        "subscriptions.csv: the file is empty; it needs a header line naming the columns "
        "(subscription_id, account_id, start_date, mrr) and one line per row"
    ]


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        gzip.compress(ONE_SUB.encode()),
    ],
    ids=["png", "gzip"],
)
def test_not_csv_at_all(tmp_path: Path, content: bytes, workspace: Path) -> None:
    code, out, _ = validate(source(tmp_path, {"subscriptions.csv": content}))
    assert code == 1
    assert errors(out) == [
        "subscriptions.csv: this is not a CSV text file (it holds binary data); export the table "
        "as UTF-8 CSV with a header line"
    ]
    assert_nothing_loaded(workspace)


def test_parquet_with_a_wrong_schema(tmp_path: Path) -> None:
    folder = source(tmp_path, {})
    pq.write_table(
        pa.table(
            {
                "subscription_id": ["s1"],
                "account_id": ["a1"],
                "start_date": pa.array([20240101], pa.int64()),
                "mrr": [10.0],
            }
        ),
        folder / "subscriptions.parquet",
    )
    code, out, _ = validate(folder)
    assert code == 1
    assert errors(out) == [
        "subscriptions.parquet: column 'start_date' has type int64; start_date must be a date "
        "(date32, or ISO text). Write the column with that type"
    ]


def test_every_error_of_a_file_in_file_order(tmp_path: Path, workspace: Path) -> None:
    subs = (
        "subscription_id,account_id,start_date,end_date,mrr,seats\n"
        "s1,a1,2024-01-01,,10,3\n"
        "\n"
        "s2,a1,2024-13-01,,abc,3\n"
        "s3,,2024-01-01,2023-01-01,5,-1\n"
        "s4,a2,2024-01-01,,5\n"
    )
    code, out, err = validate(source(tmp_path, {"subscriptions.csv": subs}))
    assert code == 1
    assert errors(out) == [
        "subscriptions.csv, line 4, column start_date: '2024-13-01' is not a valid date; "
        "start_date must be a date written YYYY-MM-DD such as 2026-03-31",
        "subscriptions.csv, line 4, column mrr: 'abc' is not a decimal number; mrr must be a "
        "decimal number >= 0 such as 49.50",
        "subscriptions.csv, line 5, column account_id: account_id is empty; every subscriptions "
        "row needs one",
        "subscriptions.csv, line 5, column seats: '-1' is negative; seats must be a whole number "
        ">= 0 such as 12",
        "subscriptions.csv, line 5, column end_date: '2023-01-01' is before start_date "
        "'2024-01-01'; end_date is the first day the period is no longer in force, after "
        "start_date",
        "subscriptions.csv, line 6: expected 6 fields, found 5; every line needs one value per "
        "header column (quote values that contain commas)",
    ]
    assert err == "error: src: 6 errors and 1 warning; nothing was loaded\n"
    assert_nothing_loaded(workspace)


def test_line_numbers_count_quoted_line_breaks(tmp_path: Path) -> None:
    accounts = 'account_id,name\na1,"Acme\nInc"\na2,Beta\n\na3,"x\n\ny"\na4\n'
    subs = SUBS_HEADER + "s1,a1,2024-01-01,10\ns2,a3,2024-01-01,10\ns3,a9,2024-01-01,10\n"
    code, out, _ = validate(source(tmp_path, {"accounts.csv": accounts, "subscriptions.csv": subs}))
    assert code == 1
    assert errors(out) == [
        "accounts.csv, line 9: expected 2 fields, found 1; every line needs one value per header "
        "column (quote values that contain commas)",
        "subscriptions.csv, line 4, column account_id: 'a9' is not in accounts.csv; add the "
        "account_id to accounts or fix this row",
    ]
    assert "  accounts.csv, line 4, column account_id: 'a2' has no subscription rows" in out


def test_large_source_gets_counts_and_first_examples(tmp_path: Path) -> None:
    rows = "".join(f"s{i},a1,2024-01-01,-{i}\n" for i in range(1, 2001))
    code, out, _ = validate(source(tmp_path, {"subscriptions.csv": SUBS_HEADER + rows}))
    assert code == 1
    shown = errors(out)
    assert len(shown) == 6
    assert shown[0] == (
        "subscriptions.csv, line 2, column mrr: '-1' is negative; mrr must be a decimal number "
        ">= 0 such as 49.50"
    )
    assert shown[5] == "  … and 1,995 more like this (2,000 in all)"


def test_json_and_csv_reports(tmp_path: Path) -> None:
    folder = source(tmp_path, {"subscriptions.csv": SUBS_HEADER + "s1,a1,2024-01-01,-20\n"})
    code, out, _ = validate(folder, "--format", "json")
    assert code == 1
    report = json.loads("\n".join(out))
    assert report["valid"] is False
    [problem] = [p for p in report["problems"] if p["severity"] == "error"]
    assert problem["code"] == "negative"
    assert problem["examples"] == [
        {
            "location": "line 2",
            "value": "-20",
            "message": "'-20' is negative; mrr must be a decimal number >= 0 such as 49.50",
        }
    ]
    code, out, _ = validate(folder, "--format", "csv")
    assert code == 1
    assert out[0] == "severity,code,table,file,location,column,value,message,count"
    assert out[1] == (
        "error,negative,subscriptions,subscriptions.csv,line 2,mrr,-20,'-20' is negative; mrr "
        "must be a decimal number >= 0 such as 49.50,1"
    )


def test_warnings_are_listed_apart_and_do_not_fail(tmp_path: Path, workspace: Path) -> None:
    subs = SUBS_HEADER + "s1,a1,2024-01-01,10\ns2,a1,2024-06-01,20\n"
    usage = "account_id,date,metric,value\na1,2023-06-01,active_users,3\n"
    code, out, err = validate(
        source(tmp_path, {"subscriptions.csv": subs, "usage_daily.csv": usage})
    )
    assert code == 0
    assert err == ""
    assert "Errors:" not in out
    warnings = out[out.index("Warnings:") + 1 :]
    assert "subscriptions.csv: 1 pair of subscription rows overlaps, in 1 account" in warnings
    assert (
        "  usage_daily.csv, line 2: account 'a1', active_users on 2023-06-01: no subscription of "
        "this account is in force that day"
    ) in warnings
    assert list(workspace.glob("sources/*.duckdb"))


def test_text_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    accounts = b"account_id,name\na1,Acme\na2,M\xfcller\n"
    code, out, _ = validate(
        source(tmp_path, {"accounts.csv": accounts, "subscriptions.csv": ONE_SUB})
    )
    assert code == 1
    assert errors(out) == [
        "accounts.csv, line 3: byte 0xfc is not UTF-8 text; export the table as UTF-8 CSV (a "
        "spreadsheet's 'CSV UTF-8' option)"
    ]

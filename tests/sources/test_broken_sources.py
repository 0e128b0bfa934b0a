"""Broken sources get every problem, each with file, line, column, value and the fix, verbatim.

Each test writes a small source, runs ``headroom validate`` in-process and compares whole lines
of the report. A file line N is the Nth line of the file, the header being line 1.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.sources.helpers import ONE_SUB, SUBS_HEADER, loaded_files, validate, write_source

NUMBER_FIX = "mrr must be a decimal number >= 0 such as 49.50"
DATE_FIX = "start_date must be a date written YYYY-MM-DD such as 2026-03-31"
FIELDS_FIX = "every line needs one value per header column (quote values that contain commas)"
ACCOUNTS_DERIVED = [
    "accounts: no accounts table: accounts are taken from the subscriptions' account_id",
    "  what to do: add accounts.csv for segments, time zones, owners and health; without it "
    "routing and reports by segment see every account as unknown",
]


def src(tmp_path: Path, files: Mapping[str, str | bytes]) -> Path:
    return write_source(tmp_path / "src", files)


# -- one kind of problem at a time ------------------------------------------------------------


def test_missing_required_column(tmp_path: Path, workspace: Path) -> None:
    run = validate(src(tmp_path, {"subscriptions.csv": "subscription_id,account_id,start_date\n"}))
    assert run.code == 1
    assert run.errors == [
        "subscriptions.csv, line 1: required column 'mrr' is missing; the header has "
        "subscription_id, account_id, start_date. Add the column, or map yours onto it in a "
        "source configuration (tables: {subscriptions: {columns: {mrr: <your column>}}})"
    ]
    assert run.err == "error: src: 1 error and 1 warning; nothing was loaded\n"
    assert loaded_files(workspace) == []


def test_wrong_type_of_seats(tmp_path: Path, workspace: Path) -> None:
    subs = "subscription_id,account_id,start_date,mrr,seats\ns1,a1,2024-01-01,10,twelve\n"
    subs += "s2,a2,2024-01-01,10,3.5\ns3,a3,2024-01-01,10,\n"
    run = validate(src(tmp_path, {"subscriptions.csv": subs}))
    assert run.code == 1
    assert run.errors == [
        "subscriptions.csv, line 2, column seats: 'twelve' is not a whole number; seats must be "
        "a whole number >= 0 such as 12",
        "subscriptions.csv, line 3, column seats: '3.5' is not a whole number; seats must be "
        "a whole number >= 0 such as 12",
    ]
    assert loaded_files(workspace) == []


def test_bad_dates(tmp_path: Path) -> None:
    subs = SUBS_HEADER + "s1,a1,2024-02-30,10\ns2,a1,01/02/2024,10\ns3,a1,2024-1-5,10\n"
    run = validate(src(tmp_path, {"subscriptions.csv": subs}))
    assert run.code == 1
    assert run.errors == [
        f"subscriptions.csv, line {line}, column start_date: {value!r} is not a valid date; "
        f"{DATE_FIX}"
        for line, value in ((2, "2024-02-30"), (3, "01/02/2024"), (4, "2024-1-5"))
    ]


def test_dates_outside_any_business_are_refused(tmp_path: Path) -> None:
    """0000-01-01 and 0001-01-01 (an export's empty date) validated as dates, then the revenue
    arithmetic overflowed: they are refused with their lines."""
    subs = SUBS_HEADER + (
        "s1,a1,0001-01-01,10\ns2,a1,2024-01-01,10\ns3,a1,0000-01-01,10\ns4,a1,2200-01-01,10\n"
    )
    events = (
        "event_id,account_id,event,timestamp\n"
        "e1,a1,login,0001-01-01T00:00:00+14:00\ne2,a1,login,2026-01-01T00:00:00Z\n"
    )
    run = validate(src(tmp_path, {"subscriptions.csv": subs, "events.csv": events}))
    assert run.code == 1
    fix = "check the export: {} is a real day of the business"
    assert run.errors == [
        "subscriptions.csv, line 2, column start_date: '0001-01-01' is outside the dates headroom "
        f"reads (1900-01-01 to 2199-12-31); {fix.format('start_date')}",
        "subscriptions.csv, line 4, column start_date: '0000-01-01' is outside the dates headroom "
        f"reads (1900-01-01 to 2199-12-31); {fix.format('start_date')}",
        "subscriptions.csv, line 5, column start_date: '2200-01-01' is outside the dates headroom "
        f"reads (1900-01-01 to 2199-12-31); {fix.format('start_date')}",
        "events.csv, line 2, column timestamp: '0001-01-01T00:00:00+14:00' is outside the dates "
        f"headroom reads (1900-01-01 to 2199-12-31); {fix.format('timestamp')}",
    ]


def test_negative_and_non_numeric_mrr(tmp_path: Path) -> None:
    subs = SUBS_HEADER + "s1,a1,2024-01-01,-20\ns2,a1,2024-01-01,$49\ns3,a1,2024-01-01,-0.01\n"
    run = validate(src(tmp_path, {"subscriptions.csv": subs}))
    assert run.code == 1
    assert run.errors == [
        f"subscriptions.csv, line 2, column mrr: '-20' is negative; {NUMBER_FIX}",
        f"subscriptions.csv, line 4, column mrr: '-0.01' is negative; {NUMBER_FIX}",
        f"subscriptions.csv, line 3, column mrr: '$49' is not a decimal number; {NUMBER_FIX}",
    ]


def test_duplicate_subscription_id(tmp_path: Path) -> None:
    subs = SUBS_HEADER + "s1,a1,2024-01-01,10\ns2,a1,2025-01-01,10\ns1,a1,2026-01-01,10\n"
    run = validate(src(tmp_path, {"subscriptions.csv": subs}))
    assert run.code == 1
    assert run.errors == [
        "subscriptions.csv, line 4, column subscription_id: subscription_id 's1' repeats line 2; "
        "subscription_id must be unique"
    ]


def test_subscription_of_an_unknown_account(tmp_path: Path) -> None:
    files = {
        "accounts.csv": "account_id,name\na1,Acme\n",
        "subscriptions.csv": SUBS_HEADER + "s1,a1,2024-01-01,10\ns2,a2,2024-02-01,10\n",
    }
    run = validate(src(tmp_path, files))
    assert run.code == 1
    assert run.errors == [
        "subscriptions.csv, line 3, column account_id: 'a2' is not in accounts.csv; add the "
        "account_id to accounts or fix this row"
    ]


def test_plan_missing_from_plans(tmp_path: Path) -> None:
    files = {
        "plans.csv": "plan,rank\nStarter,1\nPro,2\n",
        "subscriptions.csv": "subscription_id,account_id,start_date,mrr,plan\n"
        "s1,a1,2024-01-01,10,Starter\ns2,a2,2024-01-01,10,Enterprise\n",
    }
    run = validate(src(tmp_path, files))
    assert run.errors == [
        "subscriptions.csv, line 3, column plan: 'Enterprise' is not in plans.csv; add the plan "
        "to plans or fix this row"
    ]


def test_malformed_json_properties(tmp_path: Path) -> None:
    events = (
        "event_id,account_id,event,timestamp,properties\n"
        'e1,a1,upgrade_click,2024-01-02T10:00:00Z,"{""feature"": ""sso""}"\n'
        'e2,a1,upgrade_click,2024-01-02T10:00:00Z,"{feature: sso}"\n'
        'e3,a1,upgrade_click,2024-01-02T10:00:00Z,"[1,2]"\n'
        "e4,a1,upgrade_click,2024-01-02T10:00:00Z,\n"
        'e5,a1,upgrade_click,2024-01-02T10:00:00Z,"{""a"": 1"\n'
    )
    run = validate(src(tmp_path, {"subscriptions.csv": ONE_SUB, "events.csv": events}))
    assert run.code == 1
    fix = 'properties must be a JSON object such as {"feature": "sso"}, or empty'
    assert run.errors == [
        f"events.csv, line 3, column properties: '{{feature: sso}}' is not a JSON object; {fix}",
        f"events.csv, line 4, column properties: '[1,2]' is not a JSON object; {fix}",
        f"events.csv, line 6, column properties: '{{\"a\": 1' is not a JSON object; {fix}",
    ]


def test_timestamp_without_an_offset(tmp_path: Path) -> None:
    events = "event_id,account_id,event,timestamp\ne1,a1,upgrade_click,2024-01-02 10:00:00\n"
    run = validate(src(tmp_path, {"subscriptions.csv": ONE_SUB, "events.csv": events}))
    assert run.errors == [
        "events.csv, line 2, column timestamp: '2024-01-02 10:00:00' is not a timestamp with an "
        "offset; timestamp must be an ISO 8601 timestamp with an offset such as "
        "2026-03-31T14:05:00Z or 2026-03-31T16:05:00+02:00"
    ]


def test_unknown_timezone_and_segment_suggest_the_name_meant(tmp_path: Path) -> None:
    accounts = (
        "account_id,timezone,segment\n"
        "a1,Europe/Berlin,smb\n"
        "a2,Europe/Berlni,SMB\n"
        "a3,Mars/Olympus_Mons,enterprise\n"
    )
    subs = SUBS_HEADER + "".join(f"s{i},a{i},2024-01-01,10\n" for i in (1, 2, 3))
    run = validate(src(tmp_path, {"accounts.csv": accounts, "subscriptions.csv": subs}))
    assert run.code == 1
    assert run.errors == [
        "accounts.csv, line 3, column segment: 'SMB' is not a valid segment (did you mean smb?); "
        "segment must be one of smb, mid_market, enterprise",
        "accounts.csv, line 3, column timezone: 'Europe/Berlni' is not an IANA time zone (did "
        "you mean Europe/Berlin?); timezone must be an IANA time zone such as Europe/Berlin",
        "accounts.csv, line 4, column timezone: 'Mars/Olympus_Mons' is not an IANA time zone; "
        "timezone must be an IANA time zone such as Europe/Berlin",
    ]


def test_end_date_before_start_date(tmp_path: Path) -> None:
    subs = "subscription_id,account_id,start_date,end_date,mrr\ns1,a1,2024-05-01,2024-04-01,10\n"
    run = validate(src(tmp_path, {"subscriptions.csv": subs}))
    assert run.errors == [
        "subscriptions.csv, line 2, column end_date: '2024-04-01' is before start_date "
        "'2024-05-01'; end_date is the first day the period is no longer in force, after "
        "start_date"
    ]


@pytest.mark.parametrize("content", ["", "\n\n  \r\n"], ids=["empty", "blank-lines"])
def test_empty_file(tmp_path: Path, content: str, workspace: Path) -> None:
    run = validate(src(tmp_path, {"subscriptions.csv": content}))
    assert run.code == 1
    assert run.errors == [
        "subscriptions.csv: the file is empty; it needs a header line naming the columns "
        "(subscription_id, account_id, start_date, mrr) and one line per row"
    ]
    assert loaded_files(workspace) == []


def test_a_header_without_rows_is_a_valid_empty_table(tmp_path: Path) -> None:
    run = validate(src(tmp_path, {"subscriptions.csv": SUBS_HEADER}))
    assert run.code == 0
    assert run.out[0] == "src: valid, 1 warning"
    assert "  subscriptions  subscriptions.csv                               0 rows" in run.out


def test_blank_first_line(tmp_path: Path) -> None:
    run = validate(src(tmp_path, {"subscriptions.csv": "\n" + ONE_SUB}))
    assert run.errors == [
        "subscriptions.csv, line 1: line 1 is blank; the first line must be the header naming "
        "the columns (subscription_id, account_id, start_date, mrr)"
    ]


def test_a_column_named_twice(tmp_path: Path) -> None:
    subs = "subscription_id,account_id,mrr,start_date,mrr\ns1,a1,10,2024-01-01,10\n"
    run = validate(src(tmp_path, {"subscriptions.csv": subs}))
    assert run.errors == [
        "subscriptions.csv, line 1: the header names column 'mrr' more than once (columns 3 and "
        "5); keep one of them, or rename the others"
    ]


def test_unnamed_and_repeated_unused_columns_are_ignored(tmp_path: Path) -> None:
    subs = "subscription_id,account_id,start_date,mrr,note,note,,\ns1,a1,2024-01-01,10,x,y,,\n"
    run = validate(src(tmp_path, {"subscriptions.csv": subs}), "--format", "json")
    assert run.code == 0
    assert run.json()["tables"] == [
        {
            "table": "subscriptions",
            "file": "subscriptions.csv",
            "rows": 1,
            "ignored_columns": ["note", "(column 6)", "(column 7, no name)", "(column 8, no name)"],
        }
    ]


def test_lines_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    subs = SUBS_HEADER + "s1,a1,2024-01-01\ns2,a1,2024-01-01,10,extra\ns3,a1,2024-01-01,10\n"
    run = validate(src(tmp_path, {"subscriptions.csv": subs}))
    assert run.errors == [
        f"subscriptions.csv, line 2: expected 4 fields, found 3; {FIELDS_FIX}",
        f"subscriptions.csv, line 3: expected 4 fields, found 5; {FIELDS_FIX}",
    ]


def test_parquet_with_a_wrong_schema(tmp_path: Path, workspace: Path) -> None:
    folder = src(tmp_path, {})
    table = pa.table(
        {
            "subscription_id": ["s1"],
            "account_id": ["a1"],
            "start_date": pa.array([20240101], pa.int64()),
            "mrr": pa.array([True]),
        }
    )
    pq.write_table(table, folder / "subscriptions.parquet")
    run = validate(folder)
    assert run.code == 1
    assert run.errors == [
        "subscriptions.parquet: column 'start_date' has type int64; start_date must be a date "
        "(date32, or ISO text). Write the column with that type",
        "subscriptions.parquet: column 'mrr' has type bool; mrr must be a decimal or number. "
        "Write the column with that type",
    ]
    assert loaded_files(workspace) == []


def test_parquet_values_are_checked_like_csv_values(tmp_path: Path) -> None:
    folder = src(tmp_path, {})
    table = pa.table(
        {
            "subscription_id": ["s1", "s2", None],
            "account_id": ["a1", "a2", "a3"],
            "start_date": pa.array(["2024-01-01", "2024-02-30", "2024-01-01"]),
            "mrr": pa.array([1.5, -2.0, float("nan")]),
            "seats": pa.array([12.0, 12.5, None]),
        }
    )
    pq.write_table(table, folder / "subscriptions.parquet")
    run = validate(folder)
    assert run.errors == [
        "subscriptions.parquet, row 2, column start_date: '2024-02-30' is not a valid date; "
        f"{DATE_FIX}",
        f"subscriptions.parquet, row 2, column mrr: '-2' is negative; {NUMBER_FIX}",
        "subscriptions.parquet, row 2, column seats: '12.5' is not a whole number; seats must "
        "be a whole number >= 0 such as 12",
        "subscriptions.parquet, row 3, column subscription_id: subscription_id is empty; every "
        "subscriptions row needs one",
        f"subscriptions.parquet, row 3, column mrr: 'nan' is not a decimal number; {NUMBER_FIX}",
    ]


def test_a_file_that_is_not_parquet(tmp_path: Path) -> None:
    run = validate(src(tmp_path, {"subscriptions.parquet": b"PAR1 but not really"}))
    assert run.errors == [
        "subscriptions.parquet: the file cannot be read as Parquet (Parquet magic bytes not "
        "found in footer. Either the file is corrupted or this is not a parquet file.); write "
        "it again with a Parquet writer, or export the table as CSV"
    ]


def _xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
            "it is a PNG image); export the table as UTF-8 CSV with a header line",
        ),
        (gzip.compress(ONE_SUB.encode()), "it is gzip-compressed); decompress it first"),
        (_xlsx(), "it is a zip archive or an Excel workbook); save the sheet as CSV UTF-8"),
        (ONE_SUB.encode("utf-16"), "it is UTF-16 text); export the table as UTF-8 CSV"),
        (
            b"subscription_id\x00\x01\x02,mrr\n",
            "it holds binary data); export the table as UTF-8 CSV with a header line",
        ),
        (b"PAR1\x00\x00", "it is a Parquet file); name it subscriptions.parquet"),
    ],
    ids=["png", "gzip", "xlsx", "utf16", "nul-bytes", "parquet"],
)
def test_a_file_that_is_not_csv_at_all(
    tmp_path: Path, content: bytes, what: str, workspace: Path
) -> None:
    run = validate(src(tmp_path, {"subscriptions.csv": content}))
    assert run.code == 1
    assert run.errors == [f"subscriptions.csv: this is not a CSV text file ({what}"]
    assert loaded_files(workspace) == []


def test_text_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    accounts = b"account_id,name\na1,Acme\na2,M\xfcller\n"
    run = validate(src(tmp_path, {"accounts.csv": accounts, "subscriptions.csv": ONE_SUB}))
    assert run.code == 1
    assert run.errors == [
        "accounts.csv, line 3: byte 0xfc is not UTF-8 text; export the table as UTF-8 CSV (a "
        "spreadsheet's 'CSV UTF-8' option)"
    ]


def test_a_source_without_subscriptions(tmp_path: Path) -> None:
    run = validate(src(tmp_path, {"accounts.csv": "account_id\na1\n", "notes.txt": "x"}))
    assert run.code == 1
    assert run.errors == [
        "subscriptions: no subscriptions table in the folder; every source needs one "
        "(subscriptions.csv or subscriptions.parquet, or map your table onto it)"
    ]
    assert "  not read: notes.txt" in run.out


def test_one_table_in_two_files(tmp_path: Path) -> None:
    folder = src(tmp_path, {"subscriptions.csv": ONE_SUB})
    pq.write_table(pa.table({"subscription_id": ["s1"]}), folder / "subscriptions.parquet")
    run = validate(folder)
    assert run.errors == [
        "subscriptions.csv: both subscriptions.csv and subscriptions.parquet hold subscriptions; "
        "keep one of them"
    ]


# -- the report as a whole -------------------------------------------------------------------


def test_every_error_of_a_file_in_file_order(tmp_path: Path, workspace: Path) -> None:
    subs = (
        "subscription_id,account_id,start_date,end_date,mrr,seats\n"
        "s1,a1,2024-01-01,,10,3\n"
        "\n"
        "s2,a1,2024-13-01,,abc,3\n"
        "s3,,2024-01-01,2023-01-01,5,-1\n"
        "s4,a2,2024-01-01,,5\n"
    )
    run = validate(src(tmp_path, {"subscriptions.csv": subs}))
    assert run.code == 1
    assert run.errors == [
        f"subscriptions.csv, line 4, column start_date: '2024-13-01' is not a valid date; "
        f"{DATE_FIX}",
        f"subscriptions.csv, line 4, column mrr: 'abc' is not a decimal number; {NUMBER_FIX}",
        "subscriptions.csv, line 5, column account_id: account_id is empty; every subscriptions "
        "row needs one",
        "subscriptions.csv, line 5, column seats: '-1' is negative; seats must be a whole number "
        ">= 0 such as 12",
        "subscriptions.csv, line 5, column end_date: '2023-01-01' is before start_date "
        "'2024-01-01'; end_date is the first day the period is no longer in force, after "
        "start_date",
        f"subscriptions.csv, line 6: expected 6 fields, found 5; {FIELDS_FIX}",
    ]
    assert run.err == "error: src: 6 errors and 1 warning; nothing was loaded\n"
    assert loaded_files(workspace) == []


def test_errors_of_several_tables_are_all_listed(tmp_path: Path, workspace: Path) -> None:
    files = {
        "accounts.csv": "account_id,segment\na1,smb\na2,large\n",
        "subscriptions.csv": SUBS_HEADER + "s1,a1,2024-01-01,-1\n",
        "usage_daily.csv": "account_id,date,metric,value\na1,2024-01-05,active_users,many\n",
    }
    run = validate(src(tmp_path, files))
    assert run.code == 1
    assert run.out[0] == "src: 3 errors and 1 warning; nothing was loaded"
    assert run.errors == [
        "accounts.csv, line 3, column segment: 'large' is not a valid segment; segment must be "
        "one of smb, mid_market, enterprise",
        f"subscriptions.csv, line 2, column mrr: '-1' is negative; {NUMBER_FIX}",
        "usage_daily.csv, line 2, column value: 'many' is not a number; value must be a number "
        ">= 0 such as 12 or 3.5",
    ]
    assert run.warnings == [
        "accounts.csv: 1 account has no subscription rows",
        "  accounts.csv, line 3, column account_id: 'a2' has no subscription rows",
        "  what to do: prospects and trials without a priced period earn no MRR; that may be fine",
    ]
    assert run.err == "error: src: 3 errors and 1 warning; nothing was loaded\n"
    assert loaded_files(workspace) == []


def test_warnings_are_listed_apart_and_do_not_fail(tmp_path: Path, workspace: Path) -> None:
    subs = SUBS_HEADER + "s1,a1,2024-01-01,10\ns2,a1,2024-06-01,20\ns3,a1,2027-01-01,5\n"
    usage = "account_id,date,metric,value\na1,2023-06-01,active_users,3\n"
    events = (
        "event_id,account_id,event,timestamp\n"
        "e1,a1,upgrade_click,2024-01-02T10:00:00Z\n"
        "e1,a1,upgrade_click,2024-01-02T10:00:00Z\n"
        "e2,a9,upgrade_click,2024-01-02T10:00:00+02:00\n"
    )
    accounts = "account_id\na1\n"
    files = {
        "accounts.csv": accounts,
        "subscriptions.csv": subs,
        "usage_daily.csv": usage,
        "events.csv": events,
    }
    run = validate(src(tmp_path, files))
    assert run.code == 0
    assert run.err == ""
    assert run.out[0] == "src: valid, 5 kinds of warning (7 rows)"
    assert run.errors == []
    assert run.warnings == [
        "subscriptions.csv: 3 pairs of subscription rows overlap, in 1 account",
        "  subscriptions.csv, line 3, column subscription_id: subscription 's2' of account 'a1' "
        "overlaps subscription 's1' of line 2; their MRR is summed while both run",
        "  subscriptions.csv, line 4, column subscription_id: subscription 's3' of account 'a1' "
        "overlaps subscription 's1' of line 2; their MRR is summed while both run",
        "  subscriptions.csv, line 4, column subscription_id: subscription 's3' of account 'a1' "
        "overlaps subscription 's2' of line 3; their MRR is summed while both run",
        "  what to do: when a new row replaces an old one (an upgrade, a renewal), end the old "
        "row on the new row's start_date; rows that really run side by side (add-ons) can stay",
        "subscriptions.csv: 1 row has a start_date after today",
        "  subscriptions.csv, line 4, column start_date: '2027-01-01' is after today (2026-11-01)",
        "  what to do: check the export's clock and time zone; a run as of an earlier day never "
        "reads them",
        "usage_daily.csv: 1 of 1 usage row (100%) falls outside every subscription period of "
        "their account",
        "  usage_daily.csv, line 2: account 'a1', active_users on 2023-06-01: no subscription of "
        "this account is in force that day",
        "  what to do: usage outside paid periods is kept for signals but earns no MRR; if the "
        "account was paying then, fix the subscription dates",
        "events.csv: 1 row repeats an earlier event_id",
        "  events.csv, line 3, column event_id: event_id 'e1' repeats line 2; kept once",
        "  what to do: a repeated event_id is the same event (ingest is idempotent); the first "
        "is kept",
        "events.csv: 1 row names an account not in accounts.csv",
        "  events.csv, line 4, column account_id: 'a9' is not in accounts.csv; the row is kept "
        "but no account will use it",
        "  what to do: add the accounts, or fix the ids if they are spelled differently",
    ]
    assert len(loaded_files(workspace)) == 1


def test_large_source_gets_counts_and_first_examples(tmp_path: Path) -> None:
    rows = "".join(f"s{i},a{i},2024-01-01,-{i}\n" for i in range(1, 2001))
    run = validate(src(tmp_path, {"subscriptions.csv": SUBS_HEADER + rows}))
    assert run.code == 1
    assert run.errors == [
        *[
            f"subscriptions.csv, line {i + 1}, column mrr: '-{i}' is negative; {NUMBER_FIX}"
            for i in range(1, 6)
        ],
        "  … and 1,995 more like this (2,000 in all)",
    ]
    assert run.err == "error: src: 2,000 errors and 1 warning; nothing was loaded\n"


def test_json_report(tmp_path: Path) -> None:
    folder = src(tmp_path, {"subscriptions.csv": SUBS_HEADER + "s1,a1,2024-01-01,-20\n"})
    run = validate(folder, "--format", "json")
    assert run.code == 1
    assert run.err == "error: src: 1 error and 1 warning; nothing was loaded\n"
    assert run.json() == {
        "source": "src",
        "valid": False,
        "errors": 1,
        "warnings": 1,
        "tables": [
            {
                "table": "subscriptions",
                "file": "subscriptions.csv",
                "rows": 1,
                "ignored_columns": [],
            }
        ],
        "ignored_files": [],
        "problems": [
            {
                "severity": "error",
                "code": "negative",
                "table": "subscriptions",
                "file": "subscriptions.csv",
                "column": "mrr",
                "count": 1,
                "summary": None,
                "hint": None,
                "examples": [
                    {
                        "location": "line 2",
                        "value": "-20",
                        "message": f"'-20' is negative; {NUMBER_FIX}",
                    }
                ],
            },
            {
                "severity": "warning",
                "code": "accounts_derived",
                "table": "accounts",
                "file": "accounts",
                "column": None,
                "count": 1,
                "summary": "no accounts table: accounts are taken from the subscriptions' "
                "account_id",
                "hint": "add accounts.csv for segments, time zones, owners and health; without "
                "it routing and reports by segment see every account as unknown",
                "examples": [],
            },
        ],
        "data_through": None,  # nothing was loaded
        "data_through_from": None,
    }


def test_csv_report(tmp_path: Path) -> None:
    subs = SUBS_HEADER + 's1,a1,2024-01-01,-20\ns2,a2,2024-01-01,"1,5"\n'
    run = validate(src(tmp_path, {"subscriptions.csv": subs}), "--format", "csv")
    assert run.code == 1
    assert run.out == [
        "severity,code,table,file,location,column,value,message,count",
        f"error,negative,subscriptions,subscriptions.csv,line 2,mrr,-20,'-20' is negative; "
        f"{NUMBER_FIX},1",
        'error,bad_decimal,subscriptions,subscriptions.csv,line 3,mrr,"1,5","\'1,5\' is not a '
        f'decimal number; {NUMBER_FIX}",1',
        "warning,accounts_derived,accounts,accounts,,,,no accounts table: accounts are taken "
        "from the subscriptions' account_id,1",
    ]
    assert run.err == "error: src: 2 errors and 1 warning; nothing was loaded\n"


def test_a_valid_source_prints_its_tables(tmp_path: Path, workspace: Path) -> None:
    files = {
        "accounts.csv": "account_id,name,segment,timezone,crm_id\na1,Acme,smb,Europe/Berlin,9\n",
        "subscriptions.csv": ONE_SUB,
        "README.md": "# notes",
    }
    run = validate(src(tmp_path, files))
    assert run.code == 0
    assert run.err == ""
    assert run.out == [
        "src: valid, 0 warnings",
        "",
        "  accounts       accounts.csv                                    1 row  (ignored "
        "columns: crm_id)",
        "  subscriptions  subscriptions.csv                               1 row",
        "  not read: README.md",
    ]
    assert len(loaded_files(workspace)) == 1

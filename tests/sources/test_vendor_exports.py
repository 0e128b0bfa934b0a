"""The shipped mappings of billing vendors' exports (``examples/sources/``), each read from a
small hand-made export that follows the vendor's documented columns, against MRR worked out by
hand; and the forms a mapping can read (timestamps, Unix times, minor units, rows skipped,
credit notes in a file of their own), their refusals verbatim.

The hand-made exports are in ``tests/sources/vendors/<vendor>/``; every amount below is worked
from them in the comments.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom.sources.reading import in_major_units, unix_text
from headroom.sources.schema import Kind
from tests.sources.helpers import headroom, validate, write_source

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "sources"
VENDORS = Path(__file__).resolve().parent / "vendors"


def export(tmp_path: Path, vendor: str) -> Path:
    """A copy of a vendor's hand-made export (the loader never writes beside it, but a test
    should not read the repository's files in place)."""
    return Path(shutil.copytree(VENDORS / vendor, tmp_path / vendor))


def mrr_on(folder: Path, vendor: str, day: str) -> dict[str, float]:
    run = headroom(
        "mrr", str(folder), "--mapping", str(EXAMPLES / f"{vendor}.yaml"), "--on", day,
        "--format", "json",
    )  # fmt: skip
    assert run.code == 0, run.err
    rows: list[dict[str, Any]] = run.json()
    return {r["account_id"]: r["mrr"] for r in rows if r["mrr"]}


def report(folder: Path, vendor: str) -> dict[str, Any]:
    run = validate(folder, "--mapping", str(EXAMPLES / f"{vendor}.yaml"), "--format", "json")
    assert run.code == 0, run.err
    result: dict[str, Any] = run.json()
    return result


def test_stripe_invoice_line_items(tmp_path: Path) -> None:
    folder = export(tmp_path, "stripe")
    # cus_A: Basic 5000 cents a month; cus_B: 14000 yen a month (yen have no minor unit) at
    # 0.0070 dollars a yen, 98.00
    assert mrr_on(folder, "stripe", "2023-01-20") == {"cus_A": 50.0, "cus_B": 98.0}
    # cus_A moved to Pro (10000) on 15 February, half-way through a 28-day period: the
    # proration lines over 15 Feb - 1 Mar are -2500 (-50.00 a month) and +5000 (+100.00)
    assert mrr_on(folder, "stripe", "2023-02-20") == {"cus_A": 100.0, "cus_B": 98.0}
    assert mrr_on(folder, "stripe", "2023-03-05") == {"cus_A": 100.0, "cus_B": 98.0}
    # the onboarding invoice item (a period of one moment) is listed apart, not MRR
    (one_off,) = [p for p in report(folder, "stripe")["problems"] if p["code"] == "one_off_charge"]
    assert one_off["examples"][0]["location"] == "line 3"


def test_stripe_upgrade_is_an_expansion_on_its_day(tmp_path: Path) -> None:
    folder = export(tmp_path, "stripe")
    run = headroom(
        "expansions", str(folder), "--mapping", str(EXAMPLES / "stripe.yaml"), "--format", "json"
    )
    assert run.code == 0, run.err
    rows = run.json()
    assert [(r["account_id"], r["date"], r["mrr_before"], r["mrr_after"]) for r in rows] == [
        ("cus_A", "2023-02-15", 50.0, 100.0)
    ]


def test_chargebee_invoice_and_credit_note_line_items(tmp_path: Path) -> None:
    folder = export(tmp_path, "chargebee")
    # cust_1: Growth 4900 + seats 1000 cents a month; cust_2: a year of Growth, 58800 / 12
    assert mrr_on(folder, "chargebee", "2023-01-20") == {"cust_1": 59.0, "cust_2": 49.0}
    # cust_1 downgraded to Starter (2900) on 15 February, half-way through February: the
    # credit note of 2450 for 15 Feb - 1 Mar counts -49.00 a month, Starter's 1450 +29.00
    assert mrr_on(folder, "chargebee", "2023-02-20") == {"cust_1": 29.0, "cust_2": 49.0}
    assert mrr_on(folder, "chargebee", "2023-03-01") == {"cust_1": 29.0, "cust_2": 49.0}
    found = report(folder, "chargebee")
    (table,) = found["tables"]
    assert (table["file"], table["rows"]) == (
        "invoice_line_items.csv + credit_note_line_items.csv",
        8,
    )
    (one_off,) = [p for p in found["problems"] if p["code"] == "one_off_charge"]
    assert one_off["examples"][0]["location"] == "invoice_line_items.csv, line 4"


def test_recurly_adjustments(tmp_path: Path) -> None:
    folder = export(tmp_path, "recurly")
    # acme: Team 100.00 a month; beta: a year at 1200.00 after its discount, 100.00
    assert mrr_on(folder, "recurly", "2023-01-20") == {"acme": 100.0, "beta": 100.0}
    # acme upgraded to Business (300.00) on 15 February, half-way through February: the
    # credit of -50.00 for the rest counts -100.00 a month, the prorated 150.00 +300.00
    assert mrr_on(folder, "recurly", "2023-02-20") == {"acme": 300.0, "beta": 100.0}
    # the credit carried forward on 1 March is skipped; read, acme would be 250.00
    assert mrr_on(folder, "recurly", "2023-03-01") == {"acme": 300.0, "beta": 100.0}
    found = report(folder, "recurly")
    (table,) = found["tables"]
    assert (table["rows"], table["skipped_rows"]) == (8, 1)
    (one_off,) = [p for p in found["problems"] if p["code"] == "one_off_charge"]
    assert one_off["examples"][0]["location"] == "line 3"  # the setup fee


# -- the forms, one at a time ---------------------------------------------------------------

HEADER = "id,customer,start,end,amount\n"


def _mapping(extra: str) -> str:
    return (
        "tables:\n  subscriptions:\n    from: lines.csv\n    amounts: per_period\n"
        "    columns: {subscription_id: id, account_id: customer, start_date: start,\n"
        "              end_date: end, mrr: amount}\n" + extra
    )


def _source(tmp_path: Path, rows: str, extra: str, **files: str) -> Path:
    folder = write_source(
        tmp_path / "src",
        {"lines.csv": HEADER + rows, "source.yaml": _mapping(extra), **files},
    )
    return folder / "source.yaml"


def test_unix_times_are_days_in_utc(tmp_path: Path) -> None:
    # 1672531200 is 2023-01-01 00:00:00 UTC, 1675209600 2023-02-01, 1675123200 2023-01-31
    # (its first moment not paid for): a2's period is 1-30 January, 30/31 of a month
    rows = "l1,a1,1672531200,1675209600,3100\nl2,a2,1672531200,1675123200,100\n"
    reads = "    read: {start_date: unix, end_date: unix, mrr: minor_units}\n"
    source = _source(tmp_path, rows, reads + "data_through: 2023-01-31\n")
    run = headroom("mrr", str(source), "--on", "2023-01-30", "--format", "json")
    assert run.code == 0, run.err
    assert {r["account_id"]: r["mrr"] for r in run.json()} == {"a1": 31.0, "a2": 1.0333}
    run = headroom("mrr", str(source), "--on", "2023-01-31", "--format", "json")
    assert {r["account_id"]: r["mrr"] for r in run.json() if r["mrr"]} == {"a1": 31.0}


def test_a_value_not_in_its_declared_form_is_refused_saying_how_it_was_read(
    tmp_path: Path,
) -> None:
    rows = (
        "l1,a1,2023-01-01 10:00:00 PST,2023-02-01,4900\n"
        "l2,a1,01/02/2023,2023-03-01,49.00\n"
        "l3,a2,2023-01-01T00:00:00Z,2023-02-30 10:00,4900\n"
    )
    source = _source(
        tmp_path, rows, "    read: {start_date: timestamp, end_date: timestamp, mrr: minor_units}\n"
    )
    run = validate(source)
    assert run.code == 1
    # in file order
    assert run.errors == [
        "lines.csv, line 3, column start: '01/02/2023' is not a date or a timestamp; the "
        "mapping reads start_date as a timestamp (2024-01-15 or 2024-01-15 10:23:45 PST: the "
        "date as written)",
        "  what to do: fix the value, or read start_date in its own form (read: {start_date: "
        "timestamp|unix|minor_units}, or no read)",
        "lines.csv, line 3, column amount: '49.00' is not a whole number of minor units; the "
        "mapping reads mrr in minor units (a whole number: 4900 cents for 49.00)",
        "  what to do: fix the value, or read mrr in its own form (read: {mrr: "
        "timestamp|unix|minor_units}, or no read)",
        "lines.csv, line 4, column end: '2023-02-30 10:00' is not a date or a timestamp; the "
        "mapping reads end_date as a timestamp (2024-01-15 or 2024-01-15 10:23:45 PST: the "
        "date as written)",
        "  what to do: fix the value, or read end_date in its own form (read: {end_date: "
        "timestamp|unix|minor_units}, or no read)",
    ]


def test_a_unix_time_out_of_range_is_refused_not_overflowed(tmp_path: Path) -> None:
    rows = "l1,a1,99999999999999,1675209600,100\n"
    source = _source(tmp_path, rows, "    read: {start_date: unix, end_date: unix}\n")
    run = validate(source)
    assert run.code == 1
    assert run.errors[0] == (
        "lines.csv, line 2, column start: '99999999999999' is not a Unix time between 1900 "
        "and 2199; the mapping reads start_date as a Unix time (whole seconds since "
        "1970-01-01 UTC, such as 1705314225)"
    )


def test_minor_units_follow_each_rows_currency(tmp_path: Path) -> None:
    rows = "l1,a1,2023-01-01,2023-02-01,4900,usd\nl2,a2,2023-01-01,2023-02-01,4900,JPY\n"
    rows += "l3,a3,2023-01-01,2023-02-01,4900,KWD\n"
    folder = write_source(
        tmp_path / "src",
        {
            "lines.csv": "id,customer,start,end,amount,currency\n" + rows,
            "exchange_rates.csv": "currency,date,rate\nJPY,2023-01-01,1\nKWD,2023-01-01,1\n",
            "source.yaml": _mapping(
                "    read: {mrr: minor_units}\ncurrency: USD\ndata_through: 2023-01-31\n"
            ),
        },
    )
    run = headroom("mrr", str(folder / "source.yaml"), "--on", "2023-01-15", "--format", "json")
    assert run.code == 0, run.err
    daily = {r["account_id"]: r["mrr"] for r in run.json()}
    assert daily == {"a1": 49.0, "a2": 4900.0, "a3": 4.9}


def test_keep_reads_only_the_rows_it_names(tmp_path: Path) -> None:
    rows = "l1,a1,2023-01-01,2023-02-01,100,plan\nl2,a1,2023-01-01,2023-02-01,900,tax\n"
    folder = write_source(
        tmp_path / "src",
        {
            "lines.csv": "id,customer,start,end,amount,kind\n" + rows,
            "source.yaml": _mapping("    keep: {kind: [plan]}\ndata_through: 2023-01-31\n"),
        },
    )
    run = headroom("mrr", str(folder / "source.yaml"), "--on", "2023-01-15", "--format", "json")
    assert run.code == 0, run.err
    assert [(r["account_id"], r["mrr"]) for r in run.json()] == [("a1", 100.0)]
    run = validate(folder / "source.yaml")
    assert "(1 left out by the mapping)" in run.out[2]


def test_values_to_skip_are_compared_as_the_file_writes_them(tmp_path: Path) -> None:
    # YAML reads true and 3 as a boolean and a number; the file holds the text "true", "3"
    rows = "l1,a1,2023-01-01,2023-02-01,100,true,3\nl2,a2,2023-01-01,2023-02-01,100,false,4\n"
    folder = write_source(
        tmp_path / "src",
        {
            "lines.csv": "id,customer,start,end,amount,proration,tier\n" + rows,
            "source.yaml": _mapping("    skip: {proration: [true], tier: [3]}\n"),
        },
    )
    run = validate(folder / "source.yaml", "--format", "json")
    assert run.code == 0, run.err
    assert run.json()["tables"][0]["skipped_rows"] == 1


@pytest.mark.parametrize(
    ("extra", "files", "message"),
    [
        (
            "    skip: {origin: [carryforward]}\n",
            {},
            "lines.csv, line 1: column 'origin', named by skip, is not in the "
            "header; the header has id, customer, start, end, amount",
        ),
        (
            "    credits: refunds.csv\n",
            {},
            "refunds.csv: the mapping reads credit notes from 'refunds.csv', which is not in "
            "the folder",
        ),
    ],
)
def test_what_a_mapping_names_must_be_there(
    tmp_path: Path, extra: str, files: dict[str, str], message: str
) -> None:
    run = validate(_source(tmp_path, "l1,a1,2023-01-01,2023-02-01,100\n", extra, **files))
    assert run.code == 1
    assert run.errors[0] == message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "    read: {plan: unix}\n",
            "source.yaml:7:18: subscriptions.plan cannot be read as unix: it holds texts; "
            "read unix into start_date, end_date, renews_on",
        ),
        (
            "    read: {mrr: timestamp}\n",
            "source.yaml:7:17: subscriptions.mrr cannot be read as timestamp: it holds "
            "decimals; read timestamp into start_date, end_date, renews_on",
        ),
        (
            "    read: {start: unix}\n",
            "source.yaml:7:12: subscriptions has no column 'start' (did you mean "
            "'start_date'?); its columns are subscription_id, account_id, start_date, "
            "end_date, mrr, plan, seats, renews_on, currency; name our column under read:, as "
            "under columns:",
        ),
        (
            "    skip: {origin: []}\n",
            "source.yaml:7:20: skip names no values of origin; list the values, as in skip: "
            "{origin: [value]}",
        ),
    ],
)
def test_reading_settings_are_checked_where_they_are_written(
    tmp_path: Path, extra: str, message: str
) -> None:
    run = validate(_source(tmp_path, "l1,a1,2023-01-01,2023-02-01,100\n", extra))
    assert run.code == 1
    assert run.err.strip() == f"error: {message}"


# -- the conversions against Python's own arithmetic ------------------------------------------

FIRST_SECOND = int(dt.datetime(1900, 1, 1, tzinfo=dt.UTC).timestamp())
LAST_SECOND = int(dt.datetime(2199, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(FIRST_SECOND, LAST_SECOND), min_size=1, max_size=20))
def test_unix_times_read_as_python_reads_them(seconds: list[int]) -> None:
    t = ibis.memtable({"s": pa.array(seconds, pa.int64())})
    con = ibis.duckdb.connect()
    days = con.to_pyarrow(unix_text(t.s, Kind.DATE)).to_pylist()
    times = con.to_pyarrow(unix_text(t.s, Kind.TIMESTAMP)).to_pylist()
    moments = [dt.datetime.fromtimestamp(s, dt.UTC) for s in seconds]
    assert days == [m.date().isoformat() for m in moments]
    assert times == [m.strftime("%Y-%m-%dT%H:%M:%SZ") for m in moments]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-(10**15), 10**15), st.sampled_from([1, 100, 1000])),
        min_size=1,
        max_size=20,
    )
)
def test_minor_units_read_exactly(amounts: list[tuple[int, int]]) -> None:
    t = ibis.memtable(
        {
            "a": pa.array([a for a, _ in amounts], pa.int64()),
            "per": pa.array([p for _, p in amounts], pa.int64()),
        }
    )
    texts = ibis.duckdb.connect().to_pyarrow(in_major_units(t.a, t.per)).to_pylist()
    assert [Decimal(x) for x in texts] == [Decimal(a) / p for a, p in amounts]
    # written with the currency's own digits: 49.00, 0.005, 7
    assert [len(x.partition(".")[2]) for x in texts] == [
        {1: 0, 100: 2, 1000: 3}[p] for _, p in amounts
    ]

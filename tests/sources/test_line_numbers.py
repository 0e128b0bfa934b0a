"""Line numbers are the file's own lines: header line 1, blank lines and quoted line breaks counted.

Hypothesis writes small subscription files with blank lines, values that hold line breaks,
LF, CRLF or CR line ends and a few bad rows, and checks that every reported line is the line
the bad row starts on.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.sources import read_csv
from tests.sources.helpers import validate, write_source

HEADER = "subscription_id,account_id,start_date,mrr,plan"
#: plan values: plain, quoted with a comma, quoted with one or two line breaks, escaped quotes
PLANS = ["Pro", '"Pro, annual"', '"multi\nline"', '"x\n\ny"', '"say ""hi"""']
#: how a row goes wrong, and the problem code it gets
KINDS = {"ok": None, "negative": "negative", "date": "bad_date", "fields": "bad_row"}


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, dict[str, list[int]]]:
    """A CSV file and, per problem code, the lines its bad rows start on."""
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [HEADER]
    line = 2  # the line the next row starts on
    expected: dict[str, list[int]] = {}
    for i in range(draw(st.integers(1, 10))):
        blanks = draw(st.integers(0, 2))
        lines += [""] * blanks
        line += blanks
        kind = draw(st.sampled_from(list(KINDS)))
        date = "2024-13-01" if kind == "date" else "2024-01-01"
        mrr = "-5" if kind == "negative" else "5"
        plan = draw(st.sampled_from(PLANS))
        row = f"s{i},a{i},{date},{mrr}" + ("" if kind == "fields" else f",{plan}")
        lines.append(row)
        code = KINDS[kind]
        if code is not None:
            expected.setdefault(code, []).append(line)
        line += 1 + row.count("\n")
    text = "\n".join(lines).replace("\n", end)
    if draw(st.booleans()):
        text += end
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode(), expected


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.parametrize("block", [read_csv.BLOCK_BYTES, 256], ids=["one-batch", "many-batches"])
@given(files())
def test_reported_lines_are_the_lines_of_the_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    block: int,
    case: tuple[bytes, dict[str, list[int]]],
) -> None:
    """The file is read in batches of ``block`` bytes: lines are counted across them."""
    monkeypatch.setattr(read_csv, "BLOCK_BYTES", block)
    content, expected = case
    folder = write_source(tmp_path / uuid.uuid4().hex, {"subscriptions.csv": content})
    run = validate(folder, "--format", "json")
    errors = [p for p in run.json()["problems"] if p["severity"] == "error"]
    got = {
        p["code"]: (p["count"], [int(e["location"].removeprefix("line ")) for e in p["examples"]])
        for p in errors
    }
    assert got == {code: (len(lines), lines[:5]) for code, lines in expected.items()}
    assert run.code == (1 if expected else 0)


def test_a_worked_example(tmp_path: Path) -> None:
    """The same, spelled out: header, blank lines, a value over three lines, CRLF."""
    text = (
        "subscription_id,account_id,start_date,mrr,plan\r\n"  # 1
        "\r\n"  # 2
        's1,a1,2024-01-01,5,"Pro\r\n'  # 3
        "\r\n"  # 4
        'annual"\r\n'  # 5
        "s2,a2,2024-01-01,-5,Pro\r\n"  # 6
        "\r\n"  # 7
        "s3,a3,2024-01-01\r\n"  # 8
        's4,a4,2024-01-01,-1,"a\r\nb"\r\n'  # 9-10
        "s5,a5,2024-01-01,-2,Pro"  # 11, no line end
    )
    run = validate(write_source(tmp_path / "src", {"subscriptions.csv": text}))
    assert run.errors == [
        "subscriptions.csv, line 6, column mrr: '-5' is negative; mrr must be a decimal number "
        ">= 0 such as 49.50",
        "subscriptions.csv, line 9, column mrr: '-1' is negative; mrr must be a decimal number "
        ">= 0 such as 49.50",
        "subscriptions.csv, line 11, column mrr: '-2' is negative; mrr must be a decimal number "
        ">= 0 such as 49.50",
        "subscriptions.csv, line 8: expected 5 fields, found 3; every line needs one value per "
        "header column (quote values that contain commas)",
    ]


def test_a_file_with_cr_line_ends(tmp_path: Path) -> None:
    text = "subscription_id,account_id,start_date,mrr\rs1,a1,2024-01-01,1\rs2,a2,x,1\r"
    run = validate(write_source(tmp_path / "src", {"subscriptions.csv": text}))
    assert run.errors == [
        "subscriptions.csv, line 3, column start_date: 'x' is not a valid date; start_date must "
        "be a date written YYYY-MM-DD such as 2026-03-31"
    ]


@pytest.mark.parametrize("block", [read_csv.BLOCK_BYTES, 64 * 1024], ids=["one-batch", "many"])
def test_a_large_file_keeps_its_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """A large bad file gets the messages a small one gets, read in one batch or in 30."""
    monkeypatch.setattr(read_csv, "BLOCK_BYTES", block)
    rows = [f"s{i},a{i},2024-01-01,5,Pro" for i in range(60_000)]
    rows[30_000] = 's30000,a1,2024-01-01,5,"two\nlines"'
    rows[45_000] = "s45000,a1,2024-01-01,5"
    rows[59_000] = "s59000,a2,2024-01-01,-5,Pro"
    text = HEADER + "\n" + "\n".join(rows) + "\n"
    run = validate(write_source(tmp_path / "src", {"subscriptions.csv": text}))
    assert run.errors == [
        "subscriptions.csv, line 45003: expected 5 fields, found 4; every line needs one value "
        "per header column (quote values that contain commas)",
        "subscriptions.csv, line 59003, column mrr: '-5' is negative; mrr must be a decimal "
        "number >= 0 such as 49.50",
    ]


def test_a_row_longer_than_a_block_is_read_in_larger_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value over the reader's 16 MB block failed with the reader's own words ("straddling
    object"); the file is read again in blocks four times larger, up to 256 MB, and a row
    beyond that gets a message that says so. Smaller numbers here, the same logic."""
    monkeypatch.setattr(read_csv, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(read_csv, "MAX_BLOCK_BYTES", 1 << 20)
    plan = "p" * 20_000  # five blocks long
    rows = [f"s{i},a{i},2024-01-01,5,Pro" for i in range(2_000)]
    rows[1_000] = f"s1000,a1,2024-01-01,-5,{plan}"
    text = HEADER + "\n" + "\n".join(rows) + "\n"
    run = validate(write_source(tmp_path / "src", {"subscriptions.csv": text}))
    assert run.errors == [
        "subscriptions.csv, line 1002, column mrr: '-5' is negative; mrr must be a decimal "
        "number >= 0 such as 49.50",
    ]
    huge = HEADER + "\ns1,a1,2024-01-01,5," + "p" * (2 << 20) + "\n"
    run = validate(write_source(tmp_path / "huge", {"subscriptions.csv": huge}))
    assert run.errors == [
        "subscriptions.csv: a row of the file is over 1 MB long; check that its quotes are "
        "closed, and keep each value under that"
    ]

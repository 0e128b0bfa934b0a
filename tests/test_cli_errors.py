"""Bad command lines and failing sources reach the user as a message on stderr, never a traceback.

CLI.md: every command exits 0 on success and 1 on bad input, with a message on stderr that says
what and where. A bug in headroom exits 70 (EX_SOFTWARE) with a one-line message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom.cli.main import INTERNAL_ERROR, app
from tests.sources.helpers import SUBS_HEADER, write_source

SEE = "; see 'headroom validate --help'"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), prog_name="headroom")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate"], "missing argument 'SOURCE'"),
        (["validate", ".", "--bogus"], "no such option: --bogus"),
        (
            ["validate", ".", "--format", "xml"],
            "invalid value for '--format': 'xml' is not one of 'table', 'json', 'csv'",
        ),
    ],
    ids=["missing-source", "unknown-option", "unknown-format"],
)
def test_usage_errors(args: list[str], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 1
    assert out == ""
    assert err == f"error: {message}{SEE}\n"


def test_a_bad_date_option(tmp_path: Path) -> None:
    code, out, err = invoke("validate", str(tmp_path), "--today", "2026-13-01")
    assert (code, out) == (1, "")
    assert err == (
        "error: --today '2026-13-01' is not a date; write it YYYY-MM-DD, e.g. --today 2026-03-31\n"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-01-01", "--start '2025-01-01' is a day; --start takes a month; write it YYYY-MM, "
         "e.g. --start 2025-01"),
        ("2025-13", "--start '2025-13' is not a month; write it YYYY-MM, e.g. --start 2026-03"),
        ("March", "--start 'March' is not a month; write it YYYY-MM, e.g. --start 2026-03"),
    ],
    ids=["a-day", "no-such-month", "words"],
)  # fmt: skip
def test_a_month_option_takes_a_month_and_says_so(tmp_path: Path, value: str, message: str) -> None:
    """A day given for a month was cut to its month without a word; it is refused, before the
    source is read (there is none here)."""
    code, out, err = invoke("nrr", str(tmp_path), "--start", value, "--end", "2025-06")
    assert (code, out, err) == (1, "", f"error: {message}\n")


def test_the_help_writes_each_option_in_its_format() -> None:
    code, out, _ = invoke("nrr", "--help")
    assert code == 0
    assert "--start YYYY-MM " in out and "--mapping MAPPING.yaml" in out
    code, out, _ = invoke("run", "--help")
    assert "--as-of YYYY-MM-DD" in out and "--engine duckdb|spark" in out and "<str>" not in out


def test_a_broken_source_on_a_command_that_loads_it(tmp_path: Path) -> None:
    folder = write_source(tmp_path / "src", {"subscriptions.csv": SUBS_HEADER + "s1,a1,x,-1\n"})
    code, out, err = invoke("mrr", str(folder), "--format", "csv")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "error: src: 2 errors and 1 warning; nothing was loaded",
        "subscriptions.csv, line 2, column start_date: 'x' is not a valid date; start_date must "
        "be a date written YYYY-MM-DD such as 2026-03-31",
        "subscriptions.csv, line 2, column mrr: '-1' is negative; mrr must be a decimal number "
        ">= 0 such as 49.50",
    ]


def test_a_bug_is_one_line_and_exit_70(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    # by name: importing headroom.cli.validate before headroom.cli.main is circular
    monkeypatch.setattr("headroom.cli.validate.validate", broken)
    code, out, err = invoke("validate", str(tmp_path))
    assert (code, out) == (INTERNAL_ERROR, "")
    assert err == (
        "error: headroom failed unexpectedly (RuntimeError: boom); this is a bug in headroom, "
        "please report it with the command you ran (HEADROOM_DEBUG=1 shows the traceback)\n"
    )

    monkeypatch.setenv("HEADROOM_DEBUG", "1")
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert isinstance(result.exception, RuntimeError)  # the traceback, for the developer

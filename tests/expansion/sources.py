"""Small hand-made sources for the expansion tests: CSV files written into a folder."""

from __future__ import annotations

import calendar
import datetime as dt
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from headroom.cli.main import app

#: (account_id, start_date, end_date or None, mrr, plan or None, seats or None)
Row = tuple[str, str, str | None, Any, str | None, int | None]

PLANS = [("Starter", 1, 10), ("Pro", 2, 20), ("Business", 3, 30)]
ACCOUNTS = [
    ("a", "smb", "csm.a@x", ""),
    ("b", "mid_market", "", "ae.b@x"),
    ("c", "enterprise", "", ""),
]


def write_source(
    folder: Path,
    rows: list[Row],
    *,
    accounts: list[tuple[str, str, str, str]] | None = None,
    plans: list[tuple[str, int, int]] | None = PLANS,
) -> Path:
    """A source folder: subscriptions from ``rows``, accounts, and plans unless None."""
    folder.mkdir(parents=True)
    lines = ["subscription_id,account_id,start_date,end_date,mrr,plan,seats"]
    for i, (account, start, end, mrr, plan, seats) in enumerate(rows):
        seat = "" if seats is None else str(seats)
        lines.append(f"s{i},{account},{start},{end or ''},{mrr},{plan or ''},{seat}")
    (folder / "subscriptions.csv").write_text("\n".join(lines) + "\n")
    ids = sorted({r[0] for r in rows})
    known = {a[0]: a for a in (accounts if accounts is not None else ACCOUNTS)}
    people = [known.get(i, (i, "", "", "")) for i in ids]
    (folder / "accounts.csv").write_text(
        "account_id,segment,csm,ae\n" + "".join(f"{','.join(p)}\n" for p in people)
    )
    if plans is not None:
        (folder / "plans.csv").write_text(
            "plan,rank,seat_price\n" + "".join(f"{p},{r},{s}\n" for p, r, s in plans)
        )
    return folder


def run(*args: str) -> Any:
    """``headroom ARGS`` in-process; the result has exit_code, stdout and stderr."""
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> Any:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr or result.output
    return json.loads(result.stdout)


def day(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def whole_months(start: dt.date, end: dt.date) -> int:
    """Whole months from ``start`` to ``end`` by counting: a month from Jan 31 is Feb 28/29."""

    def plus(months: int) -> dt.date:
        k = start.year * 12 + start.month - 1 + months
        year, month = divmod(k, 12)
        last = calendar.monthrange(year, month + 1)[1]
        return dt.date(year, month + 1, min(start.day, last))

    m = 0
    while plus(m + 1) <= end:
        m += 1
    return m

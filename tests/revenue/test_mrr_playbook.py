"""``headroom mrr`` on the dbt mrr-playbook seed gives what the playbook itself computes.

The reference below re-implements, in plain Python, the published logic of
dbt-labs/mrr-playbook (models customer_revenue_by_month, customer_churn_month and mrr): a month
spine from 2018-01-01 to the current month; per customer the months from the month of its first
start_date to (not including) the month of its last end_date; a month's MRR is the amount of the
period with start_date <= month < end_date, else 0; a churn row with MRR 0 in the month after
the last active month; then lag over the customer's months, and the first matching category of
new / churn / reactivation / upgrade / downgrade. Its upgrade and downgrade are our expansion and
contraction. It is written from that logic, not from headroom's output.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom.cli.main import app
from tests import parts

SEED = parts.REFDATA / "mrr-playbook"
MAPPING = Path(__file__).resolve().parents[2] / "examples" / "sources" / "mrr-playbook.yaml"
RENAMED = {"upgrade": "expansion", "downgrade": "contraction"}


def _next(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _trunc(day: dt.date) -> dt.date:
    return day.replace(day=1)


def playbook(rows: list[dict[str, str]], today: dt.date) -> list[tuple[str, str, Decimal, str]]:
    periods = [
        (
            r["customer_id"],
            dt.date.fromisoformat(r["start_date"]),
            dt.date.fromisoformat(r["end_date"]),
            Decimal(r["monthly_amount"]),
        )
        for r in rows
    ]
    spine = []
    m = dt.date(2018, 1, 1)
    while m <= _trunc(today):
        spine.append(m)
        m = _next(m)
    by_customer: dict[str, list[tuple[dt.date, dt.date, Decimal]]] = defaultdict(list)
    for customer, start, end, amount in periods:
        by_customer[customer].append((start, end, amount))
    out = []
    for customer, subs in by_customer.items():
        first = _trunc(min(s for s, _, _ in subs))
        last = _trunc(max(e for _, e, _ in subs))
        months: list[tuple[dt.date, Decimal]] = []
        for month in (m for m in spine if first <= m < last):
            matches = [a for s, e, a in subs if s <= month < e] or [Decimal(0)]
            months.extend((month, a) for a in matches)
        active = [month for month, a in months if a > 0]
        if not active:
            continue
        first_active, last_active = min(active), max(active)
        months.append((_next(last_active), Decimal(0)))  # customer_churn_month
        months.sort()
        prev_active, prev_mrr = False, Decimal(0)
        for month, mrr in months:
            is_active = mrr > 0
            change = mrr - prev_mrr
            if month == first_active:
                category = "new"
            elif not is_active and prev_active:
                category = "churn"
            elif is_active and not prev_active:
                category = "reactivation"
            elif change > 0:
                category = "upgrade"
            elif change < 0:
                category = "downgrade"
            else:
                category = ""
            out.append((customer, month.isoformat(), mrr, RENAMED.get(category, category)))
            prev_active, prev_mrr = is_active, mrr
    return sorted(out)


@pytest.fixture
def seed_rows() -> list[dict[str, str]]:
    with (parts.refdata("mrr-playbook") / "subscription_periods.csv").open() as f:
        return list(csv.DictReader(f))


def test_movements_match_the_playbook_row_for_row(seed_rows: list[dict[str, str]]) -> None:
    today = dt.date.today()
    result = CliRunner().invoke(
        app,
        ["mrr", str(SEED), "--mapping", str(MAPPING), "--format", "csv", "--from", "2018-01"],
    )
    assert result.exit_code == 0, result.output
    ours = sorted(
        (r["account_id"], r["month"], Decimal(r["mrr"]), r["movement"])
        for r in csv.DictReader(result.stdout.splitlines())
    )
    expected = playbook(seed_rows, today)
    assert len(expected) > 300
    assert ours == expected

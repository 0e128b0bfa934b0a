"""Month conventions on the course_advanced_dbt fixtures (mid-month starts and cancellations).

The fixtures are dbt unit tests of a per-subscription MRR model: a period counts from the month
it starts in through the month before the month it ends in, and at least in its start month.
That is headroom's ``start_month`` convention; the test runs each subscription as its own
account, as the fixture's model does, and compares every row the fixture expects.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest

from headroom.metrics.revenue import MonthConvention, mrr_movements
from tests import parts

COURSE = parts.REFDATA / "course_advanced_dbt"
CATEGORY = {"new": "new", "churn": "churn", "renewal": None, "upgrade": "expansion"}
SCHEMA = {"account_id": "string", "start_date": "date", "end_date": "date", "mrr": "decimal(18, 4)"}


def _read(path: Path) -> list[dict[str, str]]:
    parts.refdata("course_advanced_dbt")
    with path.open() as f:
        return [{k.strip().lower(): v for k, v in row.items()} for row in csv.DictReader(f)]


def _day(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def _run(subs: list[dict[str, str]], through: dt.date, convention: MonthConvention) -> Any:
    table = ibis.memtable(
        {
            "account_id": [s["subscription_id"] for s in subs],
            "start_date": [_day(s["starts_at"]) for s in subs],
            "end_date": [_day(s["ends_at"]) for s in subs],
            "mrr": [Decimal(s["pricing"]) for s in subs],
        },
        schema=SCHEMA,
    )
    rows = mrr_movements(table, through, convention).to_pyarrow().to_pylist()
    return {(r["account_id"], r["month"]): (r["mrr"], r["movement"]) for r in rows}


@pytest.mark.parametrize(
    ("folder", "subs_file", "expected_file"),
    [
        (
            "instructor_7e66a4c",
            "unit_test_input_dim_subscriptions.csv",
            "unit_test_expected_output_mrr.csv",
        ),
        (
            "student_5d75a2f",
            "unit_test_input__rpt_mrr__dim_subscriptions.csv",
            "unit_test_expected_output__rpt_mrr.csv",
        ),
    ],
)
def test_start_month_convention_matches_the_fixtures(
    folder: str, subs_file: str, expected_file: str
) -> None:
    subs = [
        s
        for s in _read(COURSE / folder / subs_file)
        if s.get("billing_period", "monthly") == "monthly"  # the model prices monthly plans only
    ]
    expected = _read(COURSE / folder / expected_file)
    through = max(dt.date.fromisoformat(e["date_month"]) for e in expected)
    ours = _run(subs, through, MonthConvention.start_month)
    for e in expected:
        key = (e["subscription_id"], dt.date.fromisoformat(e["date_month"]))
        assert key in ours, key
        mrr, movement = ours[key]
        assert mrr == Decimal(e["mrr_amount"]), key
        assert movement == CATEGORY[e["change_category"]], key
    assert len(ours) == len(expected)


def test_the_three_conventions_on_one_mid_month_period() -> None:
    """2022-12-14 to 2023-04-12 (the fixture's s5): where each convention puts its months."""
    subs = [{"subscription_id": "s5", "starts_at": "2022-12-14", "ends_at": "2023-04-12",
             "pricing": "10"}]  # fmt: skip
    through = dt.date(2023, 6, 1)

    def active(convention: MonthConvention) -> list[str]:
        rows = _run(subs, through, convention)
        return sorted(m.isoformat()[:7] for (_, m), (mrr, _) in rows.items() if mrr > 0)

    assert active(MonthConvention.first_day) == ["2023-01", "2023-02", "2023-03", "2023-04"]
    assert active(MonthConvention.start_month) == ["2022-12", "2023-01", "2023-02", "2023-03"]
    assert active(MonthConvention.any_day) == [
        "2022-12", "2023-01", "2023-02", "2023-03", "2023-04"
    ]  # fmt: skip


def test_any_day_takes_the_peak_not_the_sum_of_a_mid_month_replacement() -> None:
    table = ibis.memtable(
        {
            "account_id": ["a", "a"],
            "start_date": [dt.date(2024, 1, 1), dt.date(2024, 2, 15)],
            "end_date": [dt.date(2024, 2, 15), None],
            "mrr": [Decimal(100), Decimal(150)],
        },
        schema=SCHEMA,
    )
    rows = mrr_movements(table, dt.date(2024, 3, 1), MonthConvention.any_day)
    got = [
        (r["month"].isoformat()[:7], r["mrr"])
        for r in rows.order_by("month").to_pyarrow().to_pylist()
    ]
    assert got == [("2024-01", 100), ("2024-02", 150), ("2024-03", 150)]

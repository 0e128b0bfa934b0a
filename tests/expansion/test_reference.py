"""The engine's expansion events against a day-by-day reference on random histories.

The reference computes each account's daily MRR, seats and plans by brute force, one day at a
time, and calls a day an expansion when the MRR rose while the account already paid the day
before: nothing about change days, joins or windows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.metrics.expansion import expansion_events

D = dt.date
ORIGIN = D(2024, 1, 1)
THROUGH = D(2024, 8, 31)
RANK = {"Starter": 1, "Pro": 2, "Business": 3}
SUBS = {
    "subscription_id": "string",
    "account_id": "string",
    "start_date": "date",
    "end_date": "date",
    "mrr": "decimal(18, 4)",
    "plan": "string",
    "seats": "int64",
}
PLANS = ibis.memtable(
    {"plan": list(RANK), "rank": list(RANK.values()), "seat_price": [Decimal(1)] * 3},
    schema={"plan": "string", "rank": "int64", "seat_price": "decimal(18, 4)"},
)

Row = tuple[str, dt.date, dt.date | None, Decimal, str | None, int | None]


@st.composite
def histories(draw: st.DrawFn) -> list[Row]:
    """Up to five rows per account: mostly each starting the day the one before ends, often on
    the same plan (a replacement, the common shape of real data), else anywhere (gaps and
    overlaps)."""
    rows: list[Row] = []
    for account in ("a", "b", "c"):
        previous: Row | None = None
        for _ in range(draw(st.integers(0, 5))):
            chained = previous is not None and previous[2] is not None and draw(st.integers(0, 3))
            if chained and previous is not None and previous[2] is not None:
                start = previous[2]
            else:
                start = ORIGIN + dt.timedelta(days=draw(st.integers(0, 260)))
            length = draw(st.integers(0, 120))  # 0: still running
            end = None if length == 0 else start + dt.timedelta(days=length)
            mrr = Decimal(draw(st.sampled_from(["0", "50", "100", "120.5", "300"])))
            if chained and previous is not None and draw(st.booleans()):
                plan = previous[4]
            else:
                plan = draw(st.sampled_from([*RANK, None]))
            seats = draw(st.one_of(st.none(), st.integers(0, 30)))
            previous = (account, start, end, mrr, plan, seats)
            rows.append(previous)
    return rows


def table(rows: list[Row]) -> Any:
    schema = ibis.schema(SUBS)
    data = pa.table(
        {
            "subscription_id": [f"s{i}" for i in range(len(rows))],
            "account_id": [r[0] for r in rows],
            "start_date": [r[1] for r in rows],
            "end_date": [r[2] for r in rows],
            "mrr": [r[3] for r in rows],
            "plan": [r[4] for r in rows],
            "seats": [r[5] for r in rows],
        },
        schema=schema.to_pyarrow(),
    )
    return ibis.memtable(data)


def reference(rows: list[Row], ranked: bool) -> list[tuple[Any, ...]]:
    def state(account: str, day: dt.date) -> tuple[Decimal, int, int | None, set[str]]:
        live = [r for r in rows if r[0] == account and r[1] <= day and (r[2] is None or day < r[2])]
        ranks = [RANK[r[4]] for r in live if r[4] is not None]
        return (
            sum((r[3] for r in live), Decimal(0)),
            sum(r[5] or 0 for r in live),
            max(ranks) if ranked and ranks else None,
            {r[4] for r in live if r[4] is not None},
        )

    out = []
    for account in sorted({r[0] for r in rows}):
        day = ORIGIN
        while day <= THROUGH:
            mrr0, seats0, rank0, plans0 = state(account, day - dt.timedelta(days=1))
            mrr1, seats1, rank1, plans1 = state(account, day)
            if mrr0 > 0 and mrr1 > mrr0:
                if rank0 is not None and rank1 is not None:
                    tier = rank1 > rank0
                else:
                    tier = bool(plans1 - plans0)
                kind = "tier" if tier else "seats" if seats1 > seats0 else "price"
                out.append((account, day, mrr0, mrr1, kind))
            day += dt.timedelta(days=1)
    return out


def engine(rows: list[Row], ranked: bool) -> list[tuple[Any, ...]]:
    tables = {"subscriptions": table(rows)} | ({"plans": PLANS} if ranked else {})
    found = expansion_events(tables, THROUGH).order_by(["account_id", "date"])
    return [
        (e["account_id"], e["date"], e["mrr_before"], e["mrr_after"], e["kind"])
        for e in found.to_pyarrow().to_pylist()
    ]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.booleans())
def test_events_match_the_day_by_day_reference(rows: list[Row], ranked: bool) -> None:
    assert engine(rows, ranked) == reference(rows, ranked)

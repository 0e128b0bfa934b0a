"""MRR movements for 100,000 accounts over 3 years, on embedded DuckDB.

Goal (issue: revenue truth): seconds. The baseline is a hand-written DuckDB SQL query that
computes the monthly MRR per account the way the dbt mrr-playbook does (a month spine joined to
the periods); the ratio shows what headroom's full movement classification costs on top.
"""

from __future__ import annotations

import datetime as dt
import time

import ibis
import numpy as np
import pyarrow as pa

from headroom.metrics.revenue import mrr_bridge, mrr_movements

BASELINE_SQL = """
with months as (
  select unnest(generate_series(date '2023-01-01', date '2025-12-01', interval 1 month))::date m
)
select s.account_id, m, sum(mrr) from subs s join months
  on s.start_date <= m and (s.end_date is null or m < s.end_date)
group by all
"""


def subscriptions(accounts: int, seed: int = 1) -> pa.Table:
    """1-4 consecutive periods per account within 2023-2025, some ending in churn."""
    rng = np.random.default_rng(seed)
    per = rng.integers(1, 5, accounts)
    acc = np.repeat(np.arange(accounts), per)
    n = len(acc)
    first = np.repeat(rng.integers(0, 900, accounts), per)
    idx = np.arange(n) - np.repeat(np.cumsum(per) - per, per)
    start = first + idx * rng.integers(60, 200, n)
    length = rng.integers(60, 400, n)
    last = idx == np.repeat(per - 1, per)
    end = np.where(last & (rng.random(n) < 0.5), -1, start + length)
    epoch = (dt.date(2023, 1, 1) - dt.date(1970, 1, 1)).days
    return pa.table(
        {
            "account_id": pa.array([f"a{i}" for i in acc]),
            "start_date": pa.array((start + epoch).astype(np.int32), pa.date32()),
            "end_date": pa.array((end + epoch).astype(np.int32), pa.date32(), mask=end < 0),
            "mrr": pa.array(np.round(rng.uniform(10, 500, n), 2)).cast(pa.decimal128(18, 4)),
        }
    )


def main(accounts: int = 100_000) -> None:
    table = subscriptions(accounts)
    con = ibis.duckdb.connect()
    subs = con.create_table("subs", table)
    through = dt.date(2025, 12, 31)

    t = time.perf_counter()
    con.raw_sql(f"create temp table base as {BASELINE_SQL}")
    baseline = time.perf_counter() - t

    t = time.perf_counter()
    movements = mrr_movements(subs, through)
    rows = con.create_table("movements", movements).count().execute()
    ours = time.perf_counter() - t

    t = time.perf_counter()
    months = mrr_bridge(con.table("movements")).count().execute()
    bridge = time.perf_counter() - t

    print(f"MRR movements: {accounts:,} accounts, {table.num_rows:,} periods, 36 months")
    print(f"  movements: {rows:,} account-months in {ours:.2f} s (goal: seconds)")
    print(f"  monthly MRR by hand-written SQL: {baseline:.2f} s; ratio {ours / baseline:.2f}x")
    print(f"  bridge over {months} months: {bridge:.2f} s")


if __name__ == "__main__":
    main()

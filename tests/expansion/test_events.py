"""Expansion events at day precision on small hand-made sources, exact to the row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis

from headroom.metrics.expansion import expansion_arr, expansion_events
from headroom.sources import load
from tests.expansion.sources import Row, run, run_json, write_source

D = dt.date
THROUGH = D(2025, 12, 31)


def events(
    folder: Path, rows: list[Row], through: dt.date = THROUGH, **kw: Any
) -> list[dict[str, Any]]:
    source = load(write_source(folder, rows, **kw))
    try:
        table = expansion_events(source, through).order_by(["account_id", "date"])
        return list(table.to_pyarrow().to_pylist())
    finally:
        source.close()


def brief(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["account_id"], e["date"], e["delta_mrr"], e["kind"]) for e in rows]


def test_seats_tier_and_price_each_give_one_event_with_every_column(tmp_path: Path) -> None:
    found = events(
        tmp_path / "src",
        [
            ("a", "2024-01-15", "2024-03-10", 100, "Starter", 10),
            ("a", "2024-03-10", "2024-06-01", 150, "Starter", 15),  # more seats
            ("a", "2024-06-01", "2024-09-01", 300, "Pro", 15),  # the next tier
            ("a", "2024-09-01", None, 330, "Pro", 15),  # same plan and seats, dearer
        ],
    )
    common = {
        "account_id": "a",
        "segment": "smb",
        "csm": "csm.a@x",
        "ae": None,
        "owner": "csm.a@x",
        "cohort": D(2024, 1, 1),
        "first_paid": D(2024, 1, 15),
    }
    assert found == [
        common | {"date": D(2024, 3, 10), "mrr_before": Decimal(100), "mrr_after": Decimal(150),
                  "delta_mrr": Decimal(50), "kind": "seats", "plan": "Starter"},
        common | {"date": D(2024, 6, 1), "mrr_before": Decimal(150), "mrr_after": Decimal(300),
                  "delta_mrr": Decimal(150), "kind": "tier", "plan": "Pro"},
        common | {"date": D(2024, 9, 1), "mrr_before": Decimal(300), "mrr_after": Decimal(330),
                  "delta_mrr": Decimal(30), "kind": "price", "plan": "Pro"},
    ]  # fmt: skip


def test_a_replacement_row_at_the_same_mrr_is_no_event(tmp_path: Path) -> None:
    rows: list[Row] = [
        ("a", "2024-01-01", "2025-01-01", 500, "Pro", 20),
        ("a", "2025-01-01", None, 500, "Pro", 20),  # renewal, same terms
        ("b", "2024-01-01", "2024-05-01", 500, "Starter", 20),
        ("b", "2024-05-01", None, 500, "Pro", 10),  # a tier up for fewer seats, same MRR
    ]
    assert events(tmp_path / "src", rows) == []


def test_a_return_after_a_gap_is_a_reactivation_not_an_expansion(tmp_path: Path) -> None:
    rows: list[Row] = [
        ("a", "2024-01-01", "2024-02-01", 100, "Starter", 10),
        ("a", "2024-02-02", None, 300, "Pro", 20),  # one day at 0 MRR: reactivation
        ("b", "2024-01-01", "2024-03-01", 100, "Starter", 10),
        ("b", "2024-03-01", "2024-04-01", 0, "Starter", 10),  # a free month
        ("b", "2024-04-01", "2024-05-01", 200, "Starter", 20),  # paying again: reactivation
        ("b", "2024-05-01", None, 250, "Starter", 25),  # and then an expansion
    ]
    assert brief(events(tmp_path / "src", rows)) == [
        ("b", D(2024, 5, 1), Decimal(50), "seats"),
    ]


def test_overlapping_rows_are_summed(tmp_path: Path) -> None:
    found = events(
        tmp_path / "src",
        [
            ("b", "2024-01-01", None, 100, "Starter", 10),
            ("b", "2024-07-15", "2024-10-01", 40, "Starter", 4),  # an add-on: 140 while it runs
            ("b", "2024-08-01", None, 25, None, None),  # a service line: no plan, no seats
            ("b", "2024-10-01", None, 60, "Pro", 2),  # a Pro add-on as the first one ends
        ],
    )
    got = [(e["date"], e["mrr_before"], e["mrr_after"], e["kind"], e["plan"]) for e in found]
    assert got == [
        (D(2024, 7, 15), Decimal(100), Decimal(140), "seats", "Starter"),
        (D(2024, 8, 1), Decimal(140), Decimal(165), "price", "Starter"),
        (D(2024, 10, 1), Decimal(165), Decimal(185), "tier", "Pro"),
    ]
    assert found[0]["owner"] == "ae.b@x"  # no CSM: the AE owns it


def test_a_rise_after_a_contraction_is_an_expansion(tmp_path: Path) -> None:
    rows: list[Row] = [
        ("c", "2024-01-01", "2024-04-01", 300, "Pro", 30),
        ("c", "2024-04-01", "2024-08-01", 200, "Pro", 20),  # contraction: no event
        ("c", "2024-08-01", None, 250, "Pro", 25),
    ]
    found = events(tmp_path / "src", rows)
    assert brief(found) == [("c", D(2024, 8, 1), Decimal(50), "seats")]
    assert found[0]["owner"] == "(none)"


def test_without_plans_a_changed_plan_name_is_a_tier(tmp_path: Path) -> None:
    rows: list[Row] = [
        ("a", "2024-01-01", "2024-03-01", 100, "Starter", 10),
        ("a", "2024-03-01", "2024-05-01", 300, "Pro", 10),  # another plan: tier
        ("a", "2024-05-01", "2024-07-01", 360, "Pro", 12),  # same plan, more seats
        ("a", "2024-07-01", None, 400, "Pro", 12),  # price
        ("b", "2024-01-01", "2024-03-01", 300, "Pro", 10),
        ("b", "2024-03-01", None, 350, "Starter", 10),  # a plan it had not: tier (no ranks)
    ]
    assert brief(events(tmp_path / "src", rows, plans=None)) == [
        ("a", D(2024, 3, 1), Decimal(200), "tier"),
        ("a", D(2024, 5, 1), Decimal(60), "seats"),
        ("a", D(2024, 7, 1), Decimal(40), "price"),
        ("b", D(2024, 3, 1), Decimal(50), "tier"),
    ]


def test_with_plans_a_move_down_the_ranks_is_not_a_tier(tmp_path: Path) -> None:
    rows: list[Row] = [
        ("b", "2024-01-01", "2024-03-01", 300, "Pro", 10),
        ("b", "2024-03-01", None, 350, "Starter", 20),
    ]
    assert brief(events(tmp_path / "src", rows)) == [("b", D(2024, 3, 1), Decimal(50), "seats")]


def test_days_after_through_are_not_read(tmp_path: Path) -> None:
    rows: list[Row] = [
        ("a", "2024-01-01", "2024-06-01", 100, "Starter", 10),
        ("a", "2024-06-01", None, 150, "Starter", 15),
    ]
    assert events(tmp_path / "before", rows, through=D(2024, 5, 31)) == []
    assert len(events(tmp_path / "on", rows, through=D(2024, 6, 1))) == 1


def test_expansion_arr_by_every_grouping(tmp_path: Path) -> None:
    rows: list[Row] = [
        ("a", "2024-01-15", "2024-03-10", 100, "Starter", 10),
        ("a", "2024-03-10", None, 150, "Starter", 15),  # +50 seats
        ("b", "2024-02-01", "2024-05-01", 100, "Starter", 10),
        ("b", "2024-05-01", None, 300, "Pro", 10),  # +200 tier
        ("c", "2024-02-10", "2024-06-01", 100, "Pro", 10),
        ("c", "2024-06-01", "2024-07-01", 110, "Pro", 10),  # +10 price
        ("c", "2024-07-01", None, 150, "Pro", 14),  # +40 seats
    ]
    source = load(write_source(tmp_path / "src", rows))
    try:
        e = expansion_events(source, THROUGH)

        def arr(by: str) -> list[tuple[Any, ...]]:
            t = expansion_arr(e, by).to_pyarrow().to_pylist()
            return [tuple(r.values()) for r in t]

        assert arr("segment") == [
            ("enterprise", 2, 1, Decimal(50), Decimal(600)),
            ("mid_market", 1, 1, Decimal(200), Decimal(2400)),
            ("smb", 1, 1, Decimal(50), Decimal(600)),
        ]
        assert arr("owner") == [
            ("(none)", 2, 1, Decimal(50), Decimal(600)),
            ("ae.b@x", 1, 1, Decimal(200), Decimal(2400)),
            ("csm.a@x", 1, 1, Decimal(50), Decimal(600)),
        ]
        assert arr("cohort") == [
            ("2024-01-01", 1, 1, Decimal(50), Decimal(600)),
            ("2024-02-01", 3, 2, Decimal(250), Decimal(3000)),
        ]
        assert arr("kind") == [
            ("price", 1, 1, Decimal(10), Decimal(120)),
            ("seats", 2, 2, Decimal(90), Decimal(1080)),
            ("tier", 1, 1, Decimal(200), Decimal(2400)),
        ]
        assert arr("plan") == [
            ("Pro", 3, 2, Decimal(250), Decimal(3000)),
            ("Starter", 1, 1, Decimal(50), Decimal(600)),
        ]
    finally:
        source.close()
    # The same through the command, as CSV and JSON.
    folder = str(tmp_path / "src")
    result = run("expansions", folder, "--through", "2025-12-31", "--by", "kind", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "group,expansions,accounts,expansion_mrr,expansion_arr\n"
        "price,1,1,10,120\nseats,2,2,90,1080\ntier,1,1,200,2400\n"
    )
    listed = run_json("expansions", folder, "--through", "2025-12-31")
    assert [(e["date"], e["account_id"], e["kind"]) for e in listed] == [
        ("2024-03-10", "a", "seats"),
        ("2024-05-01", "b", "tier"),
        ("2024-06-01", "c", "price"),
        ("2024-07-01", "c", "seats"),
    ]
    columns = ["account_id", "date", "mrr_before", "mrr_after", "delta_mrr", "kind"]
    assert list(listed[0]) == [*columns, "segment", "plan", "csm", "ae", "owner", "cohort"]


def test_the_table_form_gives_the_same_events(tmp_path: Path) -> None:
    """The four-table call, as the trigger evaluator makes it, and a mapping of tables."""
    rows: list[Row] = [
        ("a", "2024-01-01", "2024-03-01", 100, "Starter", 10),
        ("a", "2024-03-01", None, 300, "Pro", 10),
    ]
    source = load(write_source(tmp_path / "src", rows))
    try:
        tables = [source.table(n) for n in ("subscriptions", "plans", "accounts")]
        by_tables = expansion_events(tables[0], tables[1], tables[2], THROUGH)
        by_tables = by_tables.to_pyarrow().to_pylist()
        by_mapping = expansion_events(
            {"subscriptions": tables[0], "plans": tables[1], "accounts": tables[2]}, THROUGH
        )
        only_subs = expansion_events({"subscriptions": tables[0]}, THROUGH).to_pyarrow()
        assert by_tables == by_mapping.to_pyarrow().to_pylist() == events(tmp_path / "again", rows)
        assert only_subs.column("kind").to_pylist() == ["tier"]  # by plan name
        assert only_subs.column("owner").to_pylist() == ["(none)"]
    finally:
        source.close()
    assert isinstance(ibis.__version__, str)

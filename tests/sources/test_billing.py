"""Billing exports as they are: invoices whose amounts cover a period (credit notes against
them), end dates written inclusively, and reports that stop where the data ends.

The property test generates invoice histories (monthly, quarterly and annual terms; plan
changes mid-term with a credit note for the rest of the term and a new invoice for it; lapses;
one-off charges) and checks ``headroom mrr``, ``--bridge``, ``nrr`` and ``expansions`` against
a plain-Python reading of the documented convention (``sources/billing.py``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import tempfile
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.metrics.revenue import add_months, month_start
from tests.revenue.reference import (
    Row,
    month_mrr,
    reference_expansions,
    reference_movements,
    reference_retention,
)
from tests.sources.helpers import write_source

HEADER = "line_id,customer_id,period_start,period_end,amount_usd\n"
COLUMNS = (
    "columns: {subscription_id: line_id, account_id: customer_id, start_date: period_start, "
    "end_date: period_end, mrr: amount_usd}"
)
INVOICES = f"""tables:
  subscriptions:
    from: invoices.csv
    amounts: per_period
    end: inclusive
    {COLUMNS}
"""

#: One invoice line as a billing system writes it: its period's last day, or none (one-off).
Line = tuple[str, dt.date, dt.date | None, Decimal]


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    return result


def cli_json(*args: str) -> Any:
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def write_invoices(folder: Path, lines: list[Line], mapping: str = INVOICES) -> Path:
    body = "".join(
        f"l{i},{account},{start},{'' if last is None else last},{amount}\n"
        for i, (account, start, last, amount) in enumerate(lines)
    )
    write_source(folder, {"invoices.csv": HEADER + body, "source.yaml": mapping})
    return folder / "source.yaml"


# -- the convention, written again in plain Python ------------------------------------------


def _months_on(start: dt.date, n: int) -> dt.date:
    year, month = divmod(start.month - 1 + n, 12)
    last = calendar.monthrange(start.year + year, month + 1)[1]
    return dt.date(start.year + year, month + 1, min(start.day, last))


def months_of(start: dt.date, end: dt.date) -> Fraction:
    """Whole months stepped from ``start`` while they fit before ``end`` (exclusive), then the
    rest as a share of the next month's days."""
    k = 0
    while _months_on(start, k + 1) <= end:
        k += 1
    anchor, following = _months_on(start, k), _months_on(start, k + 1)
    return k + Fraction((end - anchor).days, (following - anchor).days)


def as_periods(lines: list[Line]) -> list[Row]:
    """Invoice lines as the contract's rows: exclusive ends, monthly amounts in 4 decimals
    (half away from zero), one-off charges left out."""
    rows: list[Row] = []
    for account, start, last, amount in lines:
        if last is None or last == start:
            continue
        end = last + dt.timedelta(days=1)
        rows.append((account, start, end, _round(Fraction(amount) / months_of(start, end))))
    return rows


def _round(value: Fraction) -> Decimal:
    scaled = abs(value) * 10_000
    whole = int(scaled + Fraction(1, 2))  # half away from zero
    return (Decimal(whole if value >= 0 else -whole) / 10_000).quantize(Decimal("0.0001"))


def _d(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


# -- invoice histories ----------------------------------------------------------------------

BASE = dt.date(2023, 1, 1)
PRICES = [Decimal("10"), Decimal("25.50"), Decimal("99.99"), Decimal("100"), Decimal("1188")]


@st.composite
def histories(draw: Callable[..., Any]) -> list[Line]:
    lines: list[Line] = []
    for account in draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True)):
        start = BASE + dt.timedelta(days=draw(st.integers(0, 200)))
        for _ in range(draw(st.integers(1, 4))):
            term = draw(st.sampled_from([1, 3, 12]))
            price = draw(st.sampled_from(PRICES))
            end = _months_on(start, term)
            lines.append((account, start, end - dt.timedelta(days=1), price))
            if draw(st.booleans()):  # a plan change within the term: credit the rest, bill anew
                change = start + dt.timedelta(days=draw(st.integers(1, (end - start).days - 1)))
                left = Fraction((end - change).days, (end - start).days)
                credit = -(Decimal(price) * Decimal(left.numerator) / left.denominator)
                new = draw(st.sampled_from(PRICES))
                rest = end - dt.timedelta(days=1)
                lines.append((account, change, rest, credit.quantize(Decimal("0.01"))))
                lines.append((account, change, rest, (new * left.numerator / left.denominator)
                              .quantize(Decimal("0.01"))))  # fmt: skip
            if draw(st.booleans()):  # a one-off charge: no period
                lines.append((account, start, None, Decimal("49")))
            gap = draw(st.sampled_from([0, 0, 0, 40]))  # sometimes a lapse before renewing
            start = end + dt.timedelta(days=gap)
    return lines


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
@example([("a", dt.date(2023, 1, 31), dt.date(2023, 2, 27), Decimal("99.99")),
          ("a", dt.date(2023, 2, 28), dt.date(2024, 2, 27), Decimal("1188")),
          ("a", dt.date(2023, 6, 10), dt.date(2024, 2, 27), Decimal("-850.50")),
          ("a", dt.date(2023, 6, 10), dt.date(2024, 2, 27), Decimal("1700.00")),
          ("b", dt.date(2023, 3, 1), None, Decimal("49"))])  # fmt: skip
def test_invoice_histories_give_the_documented_revenue(lines: list[Line]) -> None:
    rows = as_periods(lines)
    if not rows:
        return
    through = max(r[1] for r in rows)  # where the data ends: the latest period begun
    with tempfile.TemporaryDirectory() as tmp:
        source = str(write_invoices(Path(tmp) / "src", lines))
        month = f"{through:%Y-%m}"
        got = cli_json("mrr", source, "--through", month)
        expected = reference_movements(rows, month_start(through))
        assert [
            (r["account_id"], r["month"], _d(r["mrr"]), _d(r["previous_mrr"]),
             _d(r["mrr_change"]), r["movement"])
            for r in got
        ] == [
            (a, m.isoformat(), _d(v), _d(p), _d(c), k) for a, m, v, p, c, k in expected
        ]  # fmt: skip
        bridge = cli_json("mrr", source, "--through", month, "--bridge")
        for b in bridge:
            day = dt.date.fromisoformat(b["month"])
            ending = sum((month_mrr(rows, a, day) for a in {r[0] for r in rows}), Decimal(0))
            assert _d(b["ending_mrr"]) == _d(ending)
            for kind in ("new", "expansion", "reactivation", "contraction", "churn"):
                moved = sum((abs(e[4]) for e in expected if e[1] == day and e[5] == kind),
                            Decimal(0))  # fmt: skip
                assert _d(b[kind]) == _d(moved), (b["month"], kind)
        first = min(r[1] for r in rows).replace(day=1)
        if first < month_start(through):
            nrr = cli_json("nrr", source, "--start", f"{first:%Y-%m}", "--end", month)
            last = month_start(through)
            starting, ending, retained, count = reference_retention(rows, first, last)
            assert (_d(nrr["starting_mrr"]), _d(nrr["ending_mrr"]), nrr["accounts"]) == (
                _d(starting), _d(ending), count,
            )  # fmt: skip
            if starting > 0:
                assert nrr["grr"] == pytest.approx(float(retained / starting), abs=1e-6)
        rises = cli_json("expansions", source, "--through", through.isoformat())
        assert [(e["account_id"], e["date"], _d(e["delta_mrr"])) for e in rises] == [
            (a, d.isoformat(), _d(r)) for a, d, r in reference_expansions(rows, through)
        ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dates(dt.date(1990, 1, 1), dt.date(2090, 12, 31)),
            st.integers(1, 2000),
            st.decimals(-100_000, 100_000, places=2, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_period_is_spread_as_documented(periods: list[tuple[dt.date, int, Decimal]]) -> None:
    """The engine's closed form of months (whole months, then a share of the next) and its
    integer rounding, against stepping month by month in Python, on any period and amount."""
    from headroom.sources.billing import monthly_amount

    raw = ibis.memtable(
        {"i": list(range(len(periods))), "s": [p[0] for p in periods],
         "e": [p[0] + dt.timedelta(days=p[1]) for p in periods], "a": [p[2] for p in periods]},
        schema={"i": "int64", "s": "date", "e": "date", "a": "decimal(18, 4)"},
    )  # fmt: skip
    spread = raw.select("i", m=monthly_amount(raw.a, raw.s, raw.e)).order_by("i")
    got = ibis.duckdb.connect().to_pyarrow(spread).column("m").to_pylist()
    assert got == [
        _round(Fraction(a) / months_of(s, s + dt.timedelta(days=n))) for s, n, a in periods
    ]


# -- hand-worked examples -------------------------------------------------------------------

#: A monthly customer for three months, an annual one upgraded at mid-year with a credit note
#: for the half year left, and a one-off set-up fee.
WORKED = [
    ("c1", dt.date(2024, 1, 1), dt.date(2024, 1, 31), Decimal("100")),
    ("c1", dt.date(2024, 2, 1), dt.date(2024, 2, 29), Decimal("100")),
    ("c1", dt.date(2024, 3, 1), dt.date(2024, 3, 31), Decimal("100")),
    ("c2", dt.date(2024, 1, 1), dt.date(2024, 12, 31), Decimal("1188")),
    ("c2", dt.date(2024, 7, 1), dt.date(2024, 12, 31), Decimal("-594")),
    ("c2", dt.date(2024, 7, 1), dt.date(2024, 12, 31), Decimal("1194")),
    ("c3", dt.date(2024, 2, 15), None, Decimal("50")),
]


def test_a_worked_invoice_export(tmp_path: Path) -> None:
    source = str(write_invoices(tmp_path / "src", WORKED))
    bridge = cli_json("mrr", source, "--bridge", "--through", "2024-07")
    # c1 100 + c2 1188/12 = 99; c1 stops after March; in July c2's credit (-594/6 = -99)
    # and new invoice (1194/6 = 199) make 199: an expansion of 100
    assert [(b["month"][:7], b["ending_mrr"], b["new"], b["expansion"], b["churn"])
            for b in bridge] == [
        ("2024-01", 199, 199, 0, 0), ("2024-02", 199, 0, 0, 0), ("2024-03", 199, 0, 0, 0),
        ("2024-04", 99, 0, 0, 100), ("2024-05", 99, 0, 0, 0), ("2024-06", 99, 0, 0, 0),
        ("2024-07", 199, 0, 100, 0),
    ]  # fmt: skip
    result = cli("validate", source, "--today", "2025-01-01")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-3:] == [
        "invoices.csv: 1 row is a one-off charge (no billing period), left out of MRR",
        "  invoices.csv, line 8, column mrr: '50' on 2024-02-15 pays for no period (no "
        "end_date, or one ending the day it starts): a one-off charge, left out of MRR",
        "  what to do: MRR counts recurring amounts only; these rows are listed here, not lost",
    ]


def test_inclusive_ends_read_as_exclusive_lose_a_day_each_and_validate_says_so(
    tmp_path: Path,
) -> None:
    monthly = [line for line in WORKED if line[0] == "c1"]
    plain = f"tables:\n  subscriptions:\n    from: invoices.csv\n    {COLUMNS}\n"
    source = str(write_invoices(tmp_path / "src", monthly, plain))
    result = cli("validate", source, "--today", "2025-01-01")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-4:] == [
        "invoices.csv: 2 subscription rows start one day after the account's rows before them end",
        "  invoices.csv, line 3, column start_date: '2024-02-01': the rows of account 'c1' "
        "before it ended on 2024-01-31, so it paid nothing on the day between",
        "  invoices.csv, line 4, column start_date: '2024-03-01': the rows of account 'c1' "
        "before it ended on 2024-02-29, so it paid nothing on the day between",
        "  what to do: the mark of end dates written inclusively (the period's last day): if "
        "your export writes them so, add end: inclusive under tables: subscriptions in the "
        "source's mapping; otherwise each is a one-day lapse",
    ]
    # declared, the warning goes and the account pays every day of the three months
    inclusive = plain.replace(
        "    from: invoices.csv\n", "    from: invoices.csv\n    end: inclusive\n"
    )
    source = str(write_invoices(tmp_path / "fixed", monthly, inclusive))
    result = cli("validate", source, "--today", "2025-01-01")
    assert "one day after" not in result.stdout
    assert cli_json("expansions", source, "--through", "2024-03-01") == []  # no reactivations
    on = cli_json("mrr", source, "--on", "2024-01-31")
    assert [(r["account_id"], r["mrr"]) for r in on] == [("c1", 100)]


def test_credit_notes_without_per_period_are_refused_with_the_fix(tmp_path: Path) -> None:
    plain = INVOICES.replace("    amounts: per_period\n", "")
    source = str(write_invoices(tmp_path / "src", WORKED[:6], plain))
    result = cli("validate", source, "--today", "2025-01-01")
    assert result.exit_code == 1
    assert (
        "invoices.csv, line 6, column mrr: '-594' is negative; mrr must be a decimal number >= 0 "
        "such as 49.50\n  what to do: a negative amount is a credit note: if these rows are "
        "invoices, add amounts: per_period under tables: subscriptions in the source's mapping"
    ) in result.stdout


def test_billing_settings_belong_to_subscriptions(tmp_path: Path) -> None:
    mapping = "tables:\n  usage_daily:\n    end: inclusive\n"
    source = str(write_invoices(tmp_path / "src", WORKED, mapping))
    result = cli("validate", source)
    assert (result.exit_code, result.stderr) == (1, (
        "error: source.yaml:3:10: end applies to subscriptions only; move end: inclusive under "
        "tables: subscriptions\n"
    ))  # fmt: skip


# -- reports end where the data ends --------------------------------------------------------


def test_reports_end_where_the_data_ends_and_refuse_to_go_past_it(tmp_path: Path) -> None:
    source = str(write_invoices(tmp_path / "src", WORKED))
    # the latest period begun is c2's credit and new invoice, 2024-07-01: the data ends there
    result = cli("mrr", source, "--bridge", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)[-1]["month"] == "2024-07-01"
    assert result.stderr == (
        "through 2024-07-01, where the data ends (the latest date in the source); pass "
        "--through to choose another end\n"
    )
    result = cli("nrr", source, "--start", "2030-01", "--end", "2030-06")
    assert (result.exit_code, result.stderr) == (1, (
        "error: --end 2030-06 is past where the data ends (2024-07-01, the latest date in the "
        "source); pass --end 2024-07 or earlier, or set data_through in the source's mapping if "
        "the data runs further\n"
    ))  # fmt: skip
    result = cli("expansions", source, "--through", "2024-12-31")
    assert result.stderr == (
        "error: --through 2024-12-31 is past where the data ends (2024-07-01, the latest date in "
        "the source); pass --through 2024-07-01 or earlier, or set data_through in the source's "
        "mapping if the data runs further\n"
    )
    # the mapping can say the data runs further (an export taken at the year's end)
    told = INVOICES + "data_through: 2024-12-31\n"
    source = str(write_invoices(tmp_path / "told", WORKED, told))
    result = cli("mrr", source, "--bridge", "--format", "json")
    assert json.loads(result.stdout)[-1]["month"] == "2024-12-01"
    assert result.stderr == (
        "through 2024-12-31, where the data ends (data_through in the source's mapping); pass "
        "--through to choose another end\n"
    )
    assert cli_json("validate", source)["data_through"] == "2024-12-31"


def test_a_month_of_invoice_terms_counts_as_documented() -> None:
    assert months_of(dt.date(2024, 1, 1), dt.date(2024, 4, 1)) == 3
    assert months_of(dt.date(2024, 1, 31), dt.date(2024, 2, 29)) == 1
    assert months_of(dt.date(2024, 1, 1), dt.date(2024, 1, 17)) == Fraction(16, 31)
    assert add_months(dt.date(2024, 1, 1), 12) == dt.date(2025, 1, 1)


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_invoices_give_the_same_revenue_on_spark(tmp_path: Path) -> None:
    from headroom.metrics.expansion import expansion_events
    from headroom.metrics.revenue import mrr_movements
    from headroom.sources import load
    from headroom.sources.billing import Billing, exclusive_end, monthly_amount
    from headroom.sources.engines import on_engine
    from tests import parts

    parts.spark()
    source = load(write_invoices(tmp_path / "src", WORKED), today=dt.date(2025, 1, 1))
    try:
        spark = on_engine(source, "spark")
        through = dt.date(2024, 12, 31)

        def figures(s: Any) -> tuple[Any, ...]:
            subs = s.table("subscriptions").order_by("subscription_id").to_pyarrow().to_pylist()
            moves = mrr_movements(s.table("subscriptions"), through).order_by(
                ["account_id", "month"]).to_pyarrow().to_pylist()  # fmt: skip
            events = expansion_events(s, through).select("account_id", "date", "delta_mrr")
            return subs, moves, events.order_by(["date", "account_id"]).to_pyarrow().to_pylist()

        assert figures(spark) == figures(source)
        # the conversion itself, as the loader writes it, compiles and agrees on Spark
        lines = [line for line in WORKED if line[2] is not None] + [
            ("c4", dt.date(2025, 1, 30), dt.date(2025, 2, 28), Decimal("0.01")),
            ("c4", dt.date(2024, 1, 31), dt.date(2024, 3, 14), Decimal("-77.77")),
        ]
        raw = ibis.memtable(
            {"i": list(range(len(lines))), "s": [x[1] for x in lines],
             "e": [x[2] for x in lines], "a": [x[3] for x in lines]},
            schema={"i": "int64", "s": "date", "e": "date", "a": "decimal(18, 4)"},
        )  # fmt: skip
        end = exclusive_end(raw.e, Billing(inclusive_end=True, per_period=True))
        spread = raw.select("i", m=monthly_amount(raw.a, raw.s, end)).order_by("i")
        on_duckdb = source.con.to_pyarrow(spread).column("m").to_pylist()
        assert spark.con.to_pyarrow(spread).column("m").to_pylist() == on_duckdb
        assert on_duckdb == [
            _round(Fraction(a) / months_of(s, e + dt.timedelta(days=1)))
            for _, s, e, a in lines
            if e is not None
        ]
    finally:
        source.close()


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sources" / "invoices.yaml"


def test_the_shipped_invoice_mapping_reads_an_export_of_its_columns(tmp_path: Path) -> None:
    lines = (
        "line_id,customer_id,period_start,period_end,amount,plan\n"
        + "".join(
            f"m{m},acme,2024-{m:02d}-01,2024-{m:02d}-{calendar.monthrange(2024, m)[1]},300,Team\n"
            for m in range(1, 13)
        )
        + (
            "q1,globex,2024-10-01,2024-12-31,900,Team\n"  # a quarter: 300 a month
            "y1,initech,2024-06-15,2025-06-14,6000,Business\n"  # a year from mid-June: 500
            "c1,initech,2024-09-15,2025-06-14,-4500,Business\n"  # downgraded for the last 9 months
            "n1,initech,2024-09-15,2025-06-14,2700,Team\n"  # to Team: 300, so 500 -> 300
            "f1,globex,2024-10-01,,250,\n"  # an onboarding fee: one-off
        )
    )
    folder = write_source(tmp_path / "billing", {"invoice_lines.csv": lines})
    bridge = cli_json("mrr", str(folder), "--mapping", str(EXAMPLE), "--bridge")
    assert [(b["month"][:7], b["ending_mrr"]) for b in bridge] == [
        ("2024-01", 300), ("2024-02", 300), ("2024-03", 300), ("2024-04", 300),
        ("2024-05", 300), ("2024-06", 300),  # initech starts mid-June: July is its first month
        ("2024-07", 800), ("2024-08", 800), ("2024-09", 800),
        ("2024-10", 900), ("2024-11", 900), ("2024-12", 900),  # + globex 300, initech 500 -> 300
    ]  # fmt: skip
    assert [(b["month"][:7], b["contraction"]) for b in bridge if b["contraction"]] == [
        ("2024-10", 200)
    ]


# -- several currencies ---------------------------------------------------------------------

SUBS = "subscription_id,account_id,start_date,end_date,mrr,currency\n"


def test_several_currencies_without_rates_are_refused_saying_how_to_convert(
    tmp_path: Path,
) -> None:
    rows = "s1,a1,2024-01-01,,100,USD\ns2,a2,2024-01-01,,100,EUR\ns3,a3,2024-03-01,,100,gbp\n"
    folder = write_source(tmp_path / "src", {"subscriptions.csv": SUBS + rows})
    result = cli("validate", str(folder))
    assert result.exit_code == 1
    assert (
        "subscriptions.csv: subscriptions hold amounts in 3 currencies (EUR, GBP, USD) and the "
        "source has no exchange rates to convert them with\n  what to do: add an exchange_rates "
        "table (currency, date, rate: the reporting currency per unit, from that day) and name "
        "the reporting currency at the top of the source's mapping (currency: USD), or export "
        "the amounts in one currency\n"
    ) in result.stdout
    rates = "currency,date,rate\nEUR,2023-12-01,1.1\nEUR,2024-02-01,1.2\n"
    write_source(folder, {"exchange_rates.csv": rates})
    result = cli("validate", str(folder))
    assert (
        "subscriptions.csv: subscriptions hold amounts in 3 currencies (EUR, GBP, USD) and the "
        "source's mapping does not say which to report in\n  what to do: add currency: EUR (or "
        "another) at the top of the source's mapping\n"
    ) in result.stdout
    mapping = str(write_source(tmp_path / "m", {"map.yaml": "tables: {}\ncurrency: USD\n"}))
    mapping += "/map.yaml"
    result = cli("validate", str(folder), "--mapping", mapping)
    assert (
        "subscriptions.csv, line 4, column currency: 'gbp' on 2024-03-01: no exchange rate of it "
        "into USD is in force that day\n  what to do: add a rate for this currency dated on or "
        "before the period's start to exchange_rates\n"
    ) in result.stdout
    # with a rate for each: converted at the rate in force when each period starts
    write_source(folder, {"exchange_rates.csv": rates + "GBP,2024-01-01,1.25\n"})
    on = cli_json("mrr", str(folder), "--mapping", mapping, "--on", "2024-03-01")
    assert [(r["account_id"], r["mrr"]) for r in on] == [("a1", 100), ("a2", 110), ("a3", 125)]


def test_one_currency_needs_no_rates(tmp_path: Path) -> None:
    rows = "s1,a1,2024-01-01,,100,EUR\ns2,a2,2024-01-01,,50,eur\n"
    folder = write_source(tmp_path / "src", {"subscriptions.csv": SUBS + rows})
    on = cli_json("mrr", str(folder), "--on", "2024-03-01")
    assert [(r["account_id"], r["mrr"]) for r in on] == [("a1", 100), ("a2", 50)]


def test_an_amount_too_large_to_spread_is_refused_not_overflowed(tmp_path: Path) -> None:
    lines: list[Line] = [
        ("c1", dt.date(2024, 1, 1), dt.date(2024, 1, 31), Decimal("99999999999999.99")),
        ("c2", dt.date(1900, 1, 1), dt.date(2199, 12, 30), Decimal("999999999999")),
    ]
    result = cli("validate", str(write_invoices(tmp_path / "src", lines)), "--today", "2025-01-01")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[5:7] == [
        "Errors:",
        "invoices.csv, line 2, column mrr: '99999999999999.99' is larger than any invoice line "
        "headroom spreads (at most 1,000,000,000,000 either way); check the export's amount column",
    ]
    # the largest allowed, over the longest period headroom reads, spreads without overflow
    source = str(write_invoices(tmp_path / "ok", lines[1:]))
    on = cli_json("mrr", source, "--on", "1900-01-01")
    months = months_of(dt.date(1900, 1, 1), dt.date(2199, 12, 31))
    assert [(r["account_id"], _d(r["mrr"])) for r in on] == [
        ("c2", _round(Fraction(999999999999) / months))
    ]

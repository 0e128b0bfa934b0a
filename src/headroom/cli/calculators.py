"""The calculators: ``headroom ltv`` and ``headroom plan``.

The maths is in :mod:`headroom.metrics.calculators`; this module parses options and prints.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer

from headroom.cli.main import app
from headroom.cli.output import Format, FormatOption, console, emit_rows, print_json
from headroom.errors import UsageError


def _decimal(value: str, option: str, example: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise UsageError(f"{option} {value!r} is not a number", fix=f"e.g. {option} {example}")
    return number


@app.command("ltv")
def ltv_command(
    mrr: str = typer.Option(
        ..., "--mrr", metavar="AMOUNT", help="Monthly recurring revenue at the start."
    ),
    months: int = typer.Option(..., "--months", help="Customer lifetime in months."),
    expansion: list[str] = typer.Option(
        [], "--expansion", help="AMOUNT@MONTH: add AMOUNT to MRR from that month (from 1) on."
    ),
    discount_rate: str = typer.Option(
        "0", "--discount-rate", metavar="SHARE", help="Annual discount rate."
    ),
    gross_margin: str = typer.Option(
        "1", "--gross-margin", metavar="SHARE", help="Gross margin share."
    ),
    fmt: FormatOption = Format.table,
) -> None:
    """Lifetime revenue with expansions: what moving an expansion earlier is worth."""
    from headroom.metrics.calculators import Expansion, ltv

    result = ltv(
        _decimal(mrr, "--mrr", "500"),
        months,
        [Expansion.parse(e) for e in expansion],
        discount_rate=_decimal(discount_rate, "--discount-rate", "0.10"),
        gross_margin=_decimal(gross_margin, "--gross-margin", "0.80"),
    )
    if fmt == Format.json:
        print_json(result.to_dict())
        return
    rows = [{"month": k, "mrr": v} for k, v in enumerate(result.schedule, 1)]
    if fmt == Format.table:
        pairs: list[tuple[str, object]] = [
            ("ltv", result.ltv),
            ("months", result.months),
            ("mrr", result.mrr),
            (
                "discount rate",
                f"{result.discount_rate} a year, end-of-month cash"
                if result.discount_rate
                else "none",
            ),
            ("gross margin", result.gross_margin),
        ]
        for e, gain in zip(result.expansions, result.one_month_earlier, strict=True):
            pairs.append(
                (
                    f"+{e.amount:,} from month {e.month}",
                    "already from month 1" if gain is None else f"one month earlier adds {gain:,}",
                )
            )
        _listing(pairs, f"Lifetime value over {result.months} months")
    emit_rows(rows, fmt, ["month", "mrr"], title="MRR per month")


@app.command("plan")
def plan_command(
    arr: str = typer.Option(..., "--arr", metavar="AMOUNT", help="ARR today."),
    nrr: str = typer.Option(
        ..., "--nrr", metavar="SHARE", help="Net revenue retention as a share (0.85 = 85%)."
    ),
    growth: str = typer.Option(
        ..., "--growth", metavar="SHARE", help="Growth target as a share (0.40 = 40%)."
    ),
    fmt: FormatOption = Format.table,
) -> None:
    """NRR planner: the new-logo ARR a growth target needs, and how NRR changes it."""
    from headroom.metrics.calculators import plan

    result = plan(
        _decimal(arr, "--arr", "10000000"),
        _decimal(nrr, "--nrr", "0.85"),
        _decimal(growth, "--growth", "0.40"),
    )
    if fmt == Format.json:
        print_json(result.to_dict())
        return
    rows = result.to_dict()["sensitivity"]
    if fmt == Format.table:
        _listing(
            [
                ("arr", result.arr),
                ("nrr", result.nrr),
                ("growth", result.growth),
                ("target_arr", result.target_arr),
                ("retained_arr", result.retained_arr),
                ("new_logo_arr_needed", result.new_logo_arr_needed),
            ],
            "NRR plan",
        )
    emit_rows(rows, fmt, ["nrr", "retained_arr", "new_logo_arr_needed"], title="Sensitivity to NRR")


def _listing(pairs: list[tuple[str, object]], title: str) -> None:
    """Key-value pairs as a two-column Rich table, numbers grouped by thousands."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    for key, value in pairs:
        text = f"{value:,}" if isinstance(value, int | Decimal) else str(value)
        table.add_row(key, text)
    console().print(table)
    console().print()

"""The calculators: ``headroom ltv`` and ``headroom plan``."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer

from headroom.cli.main import app
from headroom.cli.output import Format, console, emit_rows, print_json
from headroom.errors import UsageError
from headroom.metrics.calculators import Expansion, ltv, plan


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
    mrr: str = typer.Option(..., "--mrr", help="Monthly recurring revenue at the start."),
    months: int = typer.Option(..., "--months", help="Customer lifetime in months."),
    expansion: list[str] = typer.Option(
        [], "--expansion", help="AMOUNT@MONTH: add AMOUNT to MRR from that month (from 1) on."
    ),
    discount_rate: str = typer.Option("0", "--discount-rate", help="Annual discount rate."),
    gross_margin: str = typer.Option("1", "--gross-margin", help="Gross margin share."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """Lifetime revenue with expansions: what moving an expansion earlier is worth."""
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
    if fmt == Format.csv:
        emit_rows(rows, fmt)
        return
    out = console()
    out.print(f"LTV over {months} months: {result.ltv:,}")
    for e in result.expansions:
        if e.month > 1:
            out.print(
                f"  moving +{e.amount:,} from month {e.month} one month earlier adds {e.amount:,}"
            )


@app.command("plan")
def plan_command(
    arr: str = typer.Option(..., "--arr", help="ARR today."),
    nrr: str = typer.Option(..., "--nrr", help="Net revenue retention as a share (0.85 = 85%)."),
    growth: str = typer.Option(..., "--growth", help="Growth target as a share (0.40 = 40%)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """NRR planner: the new-logo ARR a growth target needs, and how NRR changes it."""
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
        console().print(
            f"target ARR {result.target_arr:,}; retained at NRR {result.nrr}: "
            f"{result.retained_arr:,}; new-logo ARR needed: {result.new_logo_arr_needed:,}"
        )
    emit_rows(rows, fmt, title="Sensitivity to NRR")

"""Revenue commands: ``headroom mrr`` and ``headroom nrr``."""

from __future__ import annotations

from enum import StrEnum

import typer

from headroom.cli.main import app, parse_date
from headroom.cli.output import (
    DAY,
    MONTH,
    Format,
    FormatOption,
    MappingOption,
    SourceArgument,
    emit_rows,
    load_source,
    print_json,
    report_end,
)
from headroom.metrics.options import GROUPING_HELP, Grouping, MonthConvention

THROUGH_HELP = (
    "Last month to report (YYYY-MM); rows still running count through it. Default: the month "
    "the data ends in."
)
CONVENTION_HELP = (
    "How a period that starts or ends mid-month counts: first_day (MRR on the month's first "
    "day, the default), start_month (from the month it starts in to the month before it ends) "
    "or any_day (the month's highest daily MRR)."
)


@app.command("mrr")
def mrr_command(
    source: SourceArgument,
    mapping: MappingOption = None,
    through: str | None = typer.Option(None, "--through", metavar=MONTH, help=THROUGH_HELP),
    convention: MonthConvention = typer.Option(
        MonthConvention.first_day, "--month-convention", help=CONVENTION_HELP
    ),
    since: str | None = typer.Option(
        None,
        "--from",
        metavar=MONTH,
        help="Only print months from this one (YYYY-MM); history still counts.",
    ),
    until: str | None = typer.Option(
        None, "--to", metavar=MONTH, help="Only print months up to this one."
    ),
    bridge: bool = typer.Option(
        False, "--bridge", help="One row per month: start + new + expansion + ... = end."
    ),
    on: str | None = typer.Option(
        None,
        "--on",
        metavar=DAY,
        help="Instead: each account's daily MRR, plan and seats on this day.",
    ),
    fmt: FormatOption = Format.table,
) -> None:
    """MRR per account and month with its movement (new, expansion, churn, ...)."""
    from headroom.facts import account_snapshot
    from headroom.metrics.revenue import mrr_bridge, mrr_movements, parse_month

    asked = parse_month(through, "--through") if through else None
    lo = parse_month(since, "--from") if since else None
    hi = parse_month(until, "--to") if until else None
    day = parse_date(on, "--on")
    src = load_source(source, mapping)
    try:
        if day is not None:
            report_end(src, day, "--on")  # a day past the data is refused
            snapshot = account_snapshot(src, day)
            daily = snapshot.filter(snapshot.customer).select(
                "account_id", "segment", "plan", "mrr", "seats"
            )
            rows = daily.order_by("account_id").to_pyarrow().to_pylist()
            emit_rows(rows, fmt, title=f"MRR on {day}")
            return
        last = report_end(src, asked, "--through", month=True)
        movements = mrr_movements(src.table("subscriptions"), last, convention)
        table = mrr_bridge(movements) if bridge else movements
        if lo is not None:
            table = table.filter(table.month >= lo)
        if hi is not None:
            table = table.filter(table.month <= hi)
        keys = ["month"] if bridge else ["account_id", "month"]
        rows = table.order_by(keys).to_pyarrow().to_pylist()
    finally:
        src.close()
    emit_rows(rows, fmt, title="MRR bridge" if bridge else "MRR movements")


class Series(StrEnum):
    monthly = "monthly"
    t12m = "t12m"


@app.command("nrr")
def nrr_command(
    source: SourceArgument,
    start: str = typer.Option(
        ..., "--start", metavar=MONTH, help="Start month (YYYY-MM): its paying accounts."
    ),
    end: str = typer.Option(..., "--end", metavar=MONTH, help="End month (YYYY-MM)."),
    mapping: MappingOption = None,
    by: Grouping | None = typer.Option(
        None, "--by", help=f"One object per group under groups: {GROUPING_HELP}."
    ),
    series: Series | None = typer.Option(
        None,
        "--series",
        help="Instead: NRR/GRR of every month from --start to --end, month over month "
        "(monthly) or over the trailing twelve months (t12m).",
    ),
    convention: MonthConvention = typer.Option(
        MonthConvention.first_day, "--month-convention", help=CONVENTION_HELP
    ),
    fmt: FormatOption = Format.table,
) -> None:
    """Net and gross revenue retention of the accounts paying in --start, at --end."""
    from headroom.metrics.nrr import retention, retention_series
    from headroom.metrics.revenue import parse_month

    first = parse_month(start, "--start")
    last = parse_month(end, "--end")
    src = load_source(source, mapping)
    try:
        report_end(src, last, "--end", month=True)
        if series is not None:
            window = 1 if series == Series.monthly else 12
            table = retention_series(
                src.table("subscriptions"), first, last, window_months=window, convention=convention
            )
            emit_rows(table.to_pyarrow().to_pylist(), fmt, title=f"NRR and GRR, {series}")
            return
        results = retention(
            src.table("subscriptions"),
            first,
            last,
            accounts=src.table("accounts"),
            plans=src.table("plans"),
            by=by.value if by else None,
            convention=convention,
        )
    finally:
        src.close()
    whole, groups = results[0], results[1:]
    if fmt == Format.json:
        body = whole.to_dict()
        if by is not None:
            body["by"] = by.value
            body["groups"] = [g.to_dict() for g in groups]
        print_json(body)
        return
    rows = [r.to_dict() | {"group": r.group or "all"} for r in [whole, *groups]]
    columns = ["group", "start", "end", "starting_mrr", "ending_mrr", "nrr", "grr", "accounts"]
    emit_rows(rows, fmt, columns, title="Net and gross revenue retention")

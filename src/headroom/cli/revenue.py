"""Revenue commands: ``headroom mrr``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from headroom.cli.main import app
from headroom.cli.output import Format, emit_rows
from headroom.cli.validate import MAPPING_HELP, SOURCE_HELP
from headroom.metrics.revenue import MonthConvention, mrr_bridge, mrr_movements, parse_month
from headroom.sources import load

THROUGH_HELP = (
    "Last month to report (YYYY-MM); rows still running count through it. Default: this month."
)
CONVENTION_HELP = (
    "How a period that starts or ends mid-month counts: first_day (MRR on the month's first "
    "day, the default), start_month (from the month it starts in to the month before it ends) "
    "or any_day (the month's highest daily MRR)."
)


@app.command("mrr")
def mrr_command(
    source: Path = typer.Argument(..., help=SOURCE_HELP),
    mapping: Path | None = typer.Option(None, "--mapping", help=MAPPING_HELP),
    through: str | None = typer.Option(None, "--through", help=THROUGH_HELP),
    convention: MonthConvention = typer.Option(
        MonthConvention.first_day, "--month-convention", help=CONVENTION_HELP
    ),
    since: str | None = typer.Option(
        None, "--from", help="Only print months from this one (YYYY-MM); history still counts."
    ),
    until: str | None = typer.Option(None, "--to", help="Only print months up to this one."),
    bridge: bool = typer.Option(
        False, "--bridge", help="One row per month: start + new + expansion + ... = end."
    ),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """MRR per account and month with its movement (new, expansion, churn, ...)."""
    last = parse_month(through, "--through") if through else dt.date.today()
    lo = parse_month(since, "--from") if since else None
    hi = parse_month(until, "--to") if until else None
    src = load(source, mapping)
    try:
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

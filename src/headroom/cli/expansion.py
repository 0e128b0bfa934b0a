"""Expansion commands: ``headroom expansions``, ``headroom time-to-expansion``, ``headroom gap``."""

from __future__ import annotations

import typer

from headroom.cli.main import app, parse_date
from headroom.cli.output import (
    DAY,
    Format,
    FormatOption,
    MappingOption,
    SourceArgument,
    console,
    emit_rows,
    load_source,
    print_json,
    report_end,
)
from headroom.errors import UsageError
from headroom.metrics.options import GROUPING_HELP, MILESTONES, ExpansionGrouping, Grouping

THROUGH_HELP = "Last day of history to use (YYYY-MM-DD). Default: where the data ends."


@app.command("expansions")
def expansions_command(
    source: SourceArgument,
    mapping: MappingOption = None,
    through: str | None = typer.Option(None, "--through", metavar=DAY, help=THROUGH_HELP),
    since: str | None = typer.Option(
        None,
        "--since",
        metavar=DAY,
        help="First day of the period (YYYY-MM-DD). Default: all history.",
    ),
    by: ExpansionGrouping | None = typer.Option(
        None,
        "--by",
        help=f"Instead: expansions, accounts, expansion MRR and ARR per {GROUPING_HELP}, or kind.",
    ),
    fmt: FormatOption = Format.table,
) -> None:
    """Every expansion: a day the account's MRR rose while it was already paying."""
    from headroom.metrics.expansion import expansion_arr, expansions_between

    asked = parse_date(through, "--through")
    first = parse_date(since, "--since")
    src = load_source(source, mapping)
    try:
        last = report_end(src, asked, "--through")
        if first is not None and first > last:
            raise UsageError(
                f"--since {first} is after --through {last}",
                fix="pass a --since on or before --through",
            )
        events = expansions_between(src, first, last)
        if by is None:
            table = events.drop("first_paid").order_by(["date", "account_id"])
        else:
            table = expansion_arr(events, by.value)
        rows = table.to_pyarrow().to_pylist()
    finally:
        src.close()
    if by is not None:
        emit_rows(rows, fmt, title=f"Expansion ARR by {by.value}")
    else:  # the table leaves out csm and ae (owner says who); json and csv keep them
        emit_rows(rows, fmt, EVENT_COLUMNS if fmt == Format.table else None, title="Expansions")


@app.command("time-to-expansion")
def time_to_expansion_command(
    source: SourceArgument,
    mapping: MappingOption = None,
    through: str | None = typer.Option(None, "--through", metavar=DAY, help=THROUGH_HELP),
    by: Grouping | None = typer.Option(None, "--by", help=f"Also one curve per {GROUPING_HELP}."),
    step: int = typer.Option(30, "--step", help="Days between the curve's points."),
    fmt: FormatOption = Format.table,
) -> None:
    """Days from first payment to first expansion (Kaplan-Meier, censored at churn)."""
    from headroom.metrics.time_to_expansion import check_survival_options, time_to_expansion

    asked = parse_date(through, "--through")
    check_survival_options(by.value if by else None, step)  # before the source is loaded
    src = load_source(source, mapping)
    try:
        last = report_end(src, asked, "--through")
        fits = time_to_expansion(src, last, by.value if by else None, step=step)
    finally:
        src.close()
    if fmt == Format.json:
        print_json(
            {"through": last, "by": by.value if by else None, "groups": [f.to_dict() for f in fits]}
        )
    elif fmt == Format.csv:
        curve = [
            {"group": f.group, "days": d, "not_yet_expanded": round(s, 6)}
            for f in fits
            for d, s in f.curve
        ]
        emit_rows(curve, fmt, ["group", "days", "not_yet_expanded"])
    else:
        summary = [{k: v for k, v in f.to_dict().items() if k in SUMMARY} for f in fits]
        emit_rows(summary, fmt, SUMMARY, title="Days from first payment to first expansion")
        if any(f.median_days is None for f in fits):
            console().print("median_days is empty where fewer than half have expanded (yet)")


SUMMARY = ["group", "accounts", "expanded", "censored", "median_days"] + [
    f"expanded_by_{days}d" for days in MILESTONES
]
EVENT_COLUMNS = ["account_id", "date", "mrr_before", "mrr_after", "delta_mrr", "kind", "segment",
                 "plan", "owner", "cohort"]  # fmt: skip


def parse_months(value: str) -> int:
    """--months-earlier as a whole number of months from 1 to 120, or a UsageError."""
    from headroom.metrics.gap import check_months_earlier

    try:
        months = int(value)
    except ValueError:
        raise UsageError(
            f"--months-earlier {value!r} is not a whole number of months",
            fix="pass how many months sooner each expansion would have come, e.g. "
            "--months-earlier 3",
        ) from None
    check_months_earlier(months)
    return months


@app.command("gap")
def gap_command(
    source: SourceArgument,
    months: str = typer.Option(
        ...,
        "--months-earlier",
        metavar="N",
        help="How many months sooner each expansion would have come.",
    ),
    mapping: MappingOption = None,
    through: str | None = typer.Option(None, "--through", metavar=DAY, help=THROUGH_HELP),
    fmt: FormatOption = Format.table,
) -> None:
    """Money in the gap: what the real expansions would have added had they come sooner."""
    from headroom.metrics.expansion import expansion_events
    from headroom.metrics.gap import revenue_in_gap

    months_earlier = parse_months(months)  # before the source is loaded
    asked = parse_date(through, "--through")
    src = load_source(source, mapping)
    try:
        last = report_end(src, asked, "--through")
        gap = revenue_in_gap(expansion_events(src, last), months_earlier, last)
    finally:
        src.close()
    if fmt == Format.json:
        print_json(gap.to_dict())
        return
    title = f"Revenue in the gap, each expansion {months_earlier} months earlier"
    emit_rows(gap.by_segment, fmt, ["segment", "revenue_in_gap", "expansions"], title=title)
    if fmt == Format.table:
        console().print(f"total: {gap.revenue_in_gap:,.2f} from {gap.expansions:,} expansions")

"""Expansion commands: ``headroom expansions``, ``headroom time-to-expansion``, ``headroom gap``."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path

import typer

from headroom.cli.main import app, parse_date
from headroom.cli.output import Format, console, emit_rows, print_json
from headroom.cli.validate import MAPPING_HELP, SOURCE_HELP
from headroom.errors import UsageError
from headroom.metrics.expansion import (
    account_durations,
    expansion_arr,
    revenue_in_gap,
    source_expansions,
    time_to_expansion,
)
from headroom.metrics.nrr import first_payment_month, plan_in_force
from headroom.sources import load

THROUGH_HELP = "Last day of history to use (YYYY-MM-DD). Default: today."


class ExpansionGroup(StrEnum):
    segment = "segment"
    plan = "plan"
    owner = "owner"
    cohort = "cohort"
    kind = "kind"


class SurvivalGroup(StrEnum):
    segment = "segment"
    plan = "plan"
    cohort = "cohort"


@app.command("expansions")
def expansions_command(
    source: Path = typer.Argument(..., help=SOURCE_HELP),
    mapping: Path | None = typer.Option(None, "--mapping", help=MAPPING_HELP),
    through: str | None = typer.Option(None, "--through", help=THROUGH_HELP),
    by: ExpansionGroup | None = typer.Option(
        None, "--by", help="Expansion ARR per segment, plan, owner, cohort or kind."
    ),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """Every expansion (MRR rising while already paying), or expansion ARR by group."""
    last = parse_date(through, "--through") or dt.date.today()
    src = load(source, mapping)
    try:
        events = source_expansions(src, last)
        table = expansion_arr(events, by.value) if by else events.order_by(["date", "account_id"])
        rows = table.to_pyarrow().to_pylist()
    finally:
        src.close()
    title = f"Expansion ARR by {by.value}" if by else "Expansions"
    emit_rows(rows, fmt, title=title)


@app.command("time-to-expansion")
def time_to_expansion_command(
    source: Path = typer.Argument(..., help=SOURCE_HELP),
    mapping: Path | None = typer.Option(None, "--mapping", help=MAPPING_HELP),
    through: str | None = typer.Option(None, "--through", help=THROUGH_HELP),
    by: SurvivalGroup | None = typer.Option(None, "--by", help="One curve per group."),
    step: int = typer.Option(30, "--step", help="Days between the curve's points."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """Days from first payment to first expansion (Kaplan-Meier, censored at churn)."""
    last = parse_date(through, "--through") or dt.date.today()
    if step < 1:
        raise UsageError(f"--step {step} is not a number of days", fix="pass e.g. --step 30")
    src = load(source, mapping)
    try:
        durations = account_durations(src.table("subscriptions"), src.table("plans"), last)
        if by is not None:
            if by == SurvivalGroup.segment:
                attrs = src.table("accounts").select("account_id", group="segment")
            elif by == SurvivalGroup.plan:
                attrs = plan_in_force(src.table("subscriptions"), src.table("plans"), last)
                attrs = attrs.select("account_id", group="plan")
            else:
                cohorts = first_payment_month(src.table("subscriptions"))
                attrs = cohorts.select("account_id", group=cohorts.cohort.cast("string").left(7))
            durations = durations.left_join(attrs, "account_id")
        else:
            durations = durations.mutate(group=durations.account_id.left(0))
        rows = durations.to_pyarrow().to_pylist()
    finally:
        src.close()
    groups: dict[str, list[tuple[str, int, bool]]] = {"all": []}
    for r in rows:
        groups["all"].append(("all", r["days"], r["expanded"]))
        if by is not None:
            name = r["group"] or "(none)"
            groups.setdefault(name, []).append((name, r["days"], r["expanded"]))
    fits = [f for f in (time_to_expansion(v, step) for v in groups.values()) if f]
    if fmt == Format.json:
        print_json({"through": last, "by": by.value if by else None,
                    "groups": [f.to_dict() for f in fits]})  # fmt: skip
        return
    summary = [{k: v for k, v in f.to_dict().items() if k != "curve"} for f in fits]
    if fmt == Format.csv:
        emit_rows(
            [
                {"group": f.group, "days": d, "not_yet_expanded": round(s, 6)}
                for f in fits
                for d, s in f.curve
            ],
            fmt,
        )
        return
    emit_rows(summary, fmt, title="Time from first payment to first expansion (days)")
    console().print("median_days is empty where fewer than half have expanded within the data")


@app.command("gap")
def gap_command(
    source: Path = typer.Argument(..., help=SOURCE_HELP),
    months_earlier: int = typer.Option(..., "--months-earlier", help="How many months sooner."),
    mapping: Path | None = typer.Option(None, "--mapping", help=MAPPING_HELP),
    through: str | None = typer.Option(None, "--through", help=THROUGH_HELP),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """Money in the gap: what the real expansions would have added had they come sooner."""
    last = parse_date(through, "--through") or dt.date.today()
    src = load(source, mapping)
    try:
        events = source_expansions(src, last)
        gap = revenue_in_gap(
            events, src.table("subscriptions"), src.table("plans"), months_earlier, last
        )
    finally:
        src.close()
    if fmt == Format.json:
        print_json(gap.to_dict())
        return
    emit_rows(gap.by_segment, fmt, title=f"Revenue in the gap, {months_earlier} months earlier")
    if fmt == Format.table:
        console().print(f"total: {gap.revenue_in_gap:,} from {gap.expansions:,} expansions")

"""``headroom backtest SOURCE --playbook P --start D --end D``: how well triggers foretold
expansions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from headroom.cli.main import app, parse_date
from headroom.cli.output import (
    DAY,
    EngineOption,
    Format,
    FormatOption,
    MappingOption,
    SourceArgument,
    console,
    emit_rows,
    load_source,
    percent,
    print_json,
)

if TYPE_CHECKING:
    from headroom.backtest import Backtest, Score


@app.command("backtest")
def backtest_command(
    source: SourceArgument,
    playbook: Path = typer.Option(..., "--playbook", help="The playbook YAML file."),
    start: str = typer.Option(..., "--start", metavar=DAY, help="The first day replayed."),
    end: str = typer.Option(..., "--end", metavar=DAY, help="The last day replayed."),
    horizon_days: int = typer.Option(
        90, "--horizon-days", help="An expansion within this many days counts as foretold."
    ),
    sweep_spec: str | None = typer.Option(
        None,
        "--sweep",
        metavar="TRIGGER.threshold=START:STOP:STEP",
        help="TRIGGER.threshold=START:STOP:STEP: replay with each value of the number in the "
        "trigger's condition (thresholdN for its N-th number) and compare.",
    ),
    mapping: MappingOption = None,
    engine: EngineOption = "duckdb",
    fmt: FormatOption = Format.table,
) -> None:
    """Replay a playbook over past days (no look-ahead) and score each trigger."""
    from headroom.store.database import Store
    from headroom.usecases.backtest import BacktestAsk, run_backtest

    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    assert first is not None and last is not None
    ask = BacktestAsk(first, last, horizon_days, sweep_spec)
    # the store first: one that cannot be reached fails before the long part
    with Store() as store:
        done = run_backtest(
            store, source, playbook, ask, mapping=mapping, engine=engine, load_source=load_source
        )
    result, spec, rows = done.backtest, done.sweep, done.rows or []
    if spec is not None:
        head = {"start": first, "end": last, "horizon_days": horizon_days}
        if fmt == Format.json:
            print_json({**head, "trigger": spec.trigger, "number": spec.number, "rows": rows})
        elif fmt == Format.csv:
            emit_rows(rows, fmt)
        else:
            title = (
                f"Sweep of {spec.trigger}'s threshold, {first} to {last}, horizon "
                f"{horizon_days} days"
            )
            emit_rows(sweep_rows(rows), fmt, title=title)
        return
    if fmt == Format.json:
        print_json(result.to_dict())
    elif fmt == Format.csv:
        emit_rows([s.to_dict() for s in result.triggers], fmt)
    else:
        print_backtest(result)


def table_rows(scores: list[Score]) -> list[dict[str, Any]]:
    """Scores as table rows for people (percentages, lift as a multiple)."""
    return [
        {
            **({"segment": s.segment} if s.segment is not None else {}),
            "trigger": s.trigger,
            "fired": f"{s.fired:,}",
            "accounts": f"{s.accounts:,}",
            "precision": percent(s.precision),
            "recall": percent(s.recall),
            "lift": "n/a" if s.lift is None else f"{s.lift:.2f}x",
            "median lead": "n/a" if s.median_lead_days is None else f"{s.median_lead_days:g} d",
            "revenue in gap": f"{s.revenue_in_gap:,.0f}",
        }
        for s in scores
    ]


def sweep_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sweep rows for people, the best lift marked."""
    return [
        {
            "threshold": f"{r['threshold']:g}",
            "fired": f"{r['fired']:,}",
            "accounts": f"{r['accounts']:,}",
            "precision": percent(r["precision"]),
            "recall": percent(r["recall"]),
            "lift": "n/a" if r["lift"] is None else f"{r['lift']:.2f}x",
            "median lead": "n/a"
            if r["median_lead_days"] is None
            else f"{r['median_lead_days']:g} d",
            "": "<- best lift" if r["best"] else "",
        }
        for r in rows
    ]


def print_backtest(result: Backtest) -> None:
    """The backtest as tables: per trigger, then per segment."""
    out = console()
    emit_rows(
        table_rows(result.triggers),
        Format.table,
        title=f"Backtest {result.start} to {result.end}, horizon {result.horizon_days} days",
    )
    expansions = result.triggers[-1].expansions if result.triggers else 0
    out.print(
        f"{expansions:,} expansions in the range; base rate {percent(result.base_rate)} "
        f"(eligible account-days followed by an expansion within {result.horizon_days} days"
        + (
            f", read on one day in {result.base_rate_every_nth_day} of the range: a sample)"
            if result.base_rate_every_nth_day > 1
            else ")"
        )
    )
    out.print()
    emit_rows(table_rows(result.by_segment), Format.table, title="By segment")
    out.print("precision, recall and lift by horizon (for a chart): --format json, by_horizon")


@app.command("backtest-forecasts")
def backtest_forecasts_command(
    source: SourceArgument,
    start: str = typer.Option(..., "--start", metavar=DAY, help="The first day replayed."),
    end: str = typer.Option(
        ...,
        "--end",
        metavar=DAY,
        help="The last day replayed (a year before the data ends judges forecasts a year ahead).",
    ),
    mapping: MappingOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Replay the usage-ceiling forecasts made on past days (no look-ahead) against the day
    usage really reached the limit: interval coverage and error by horizon."""
    from headroom.backtest.forecasts import check_forecasts

    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    assert first is not None and last is not None
    src = load_source(source, mapping)
    try:
        check = check_forecasts(src, first, last)
    finally:
        src.close()
    if fmt == Format.json:
        print_json(check.to_dict())
        return
    rows = [
        {
            "metric": b.metric,
            "days ahead": b.band,
            "projections": f"{b.projections:,}",
            "crossed": f"{b.crossed:,}",
            "judged": f"{b.judged:,}",
            "no interval": f"{b.no_interval:,}",
            "80% interval held": percent(b.coverage),
            "median error": _days(b.median_abs_error),
            "plain line's": _days(b.line_median_abs_error),
            "this, same crossings": _days(b.paired_median_abs_error),
        }
        for b in check.bands
    ]
    if fmt == Format.csv:
        emit_rows([b.__dict__ for b in check.bands], fmt)
        return
    emit_rows(
        rows, fmt, title=f"Ceiling forecasts made {first} to {last}, judged to {check.data_end}"
    )
    out = console()
    out.print(
        "plain line's: the least-squares line through the daily values, uncalibrated, over the "
        "crossings both dated ('this, same crossings')"
    )
    for n in check.not_growing:
        if n.judged:
            out.print(
                f"{n.metric}: {n.reached_within_a_year:,} of {n.judged:,} 'not growing' calls "
                f"reached the limit within a year ({percent(n.share)})"
            )


def _days(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} d"

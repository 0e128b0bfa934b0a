"""``headroom conversion`` and ``headroom pipeline``: what the plays convert at, and what the
open ones are worth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from headroom.cli.main import app
from headroom.cli.output import (
    Format,
    FormatOption,
    MappingOption,
    console,
    emit_rows,
    load_source,
    percent,
    print_json,
)
from headroom.errors import UsageError

SOURCE_OPTION_HELP = (
    "Optional: a source whose outcomes table adds imported conversations (and, for the "
    "pipeline, segments and the median expansion)."
)
#: SOURCE as the other commands take it, an argument; ``--source`` was these two commands' own
#: spelling and still works (hidden), so that scripts written for it keep running.
OptionalSource = Annotated[
    Path | None, typer.Argument(help=SOURCE_OPTION_HELP, metavar="SOURCE", show_default=False)
]
OldSourceOption = Annotated[Path | None, typer.Option("--source", hidden=True)]


def _inputs(
    playbook: Path, source: Path | None, old: Path | None, mapping: Path | None
) -> tuple[Any, Any, Any]:
    from headroom.playbook.model import load_playbook
    from headroom.signals.registry import types
    from headroom.store.database import Store

    if source is not None and old is not None:
        raise UsageError(
            f"the source is given twice ({source} and --source {old})",
            fix="give the source once, as the argument",
        )
    source = source if source is not None else old

    book = load_playbook(playbook, types())
    with Store() as store:
        plays = store.plays()
    return book, plays, load_source(source, mapping) if source is not None else None


@app.command("conversion")
def conversion_command(
    source: OptionalSource = None,
    playbook: Path = typer.Option(..., "--playbook", help="The playbook YAML file."),
    old_source: OldSourceOption = None,
    mapping: MappingOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Each trigger's learned conversion: its benchmark prior updated with recorded outcomes."""
    from headroom.plays.conversion import learned, source_outcomes

    book, plays, src = _inputs(playbook, source, old_source, mapping)
    try:
        rows = learned(book, plays, source_outcomes(src))
    finally:
        if src is not None:
            src.close()
    if fmt != Format.table:
        emit_rows([c.to_dict() for c in rows], fmt)
        return
    emit_rows(
        [
            {
                "trigger": c.trigger,
                "plays": c.plays,
                "to opportunity": percent(c.signal_to_opportunity),
                "won / closed": f"{c.won} / {c.won + c.lost}",
                "prior": c.prior or "none",
                "prior weight": f"{c.prior_weight:.0f} plays",
                "win rate": percent(c.win_rate),
                "days to expansion": "n/a"
                if c.median_days_to_expansion is None
                else f"{c.median_days_to_expansion:g}",
                "expansion MRR": f"{c.expansion_mrr:,.0f}",
            }
            for c in rows
        ],
        fmt,
        title="Conversion by trigger",
    )
    console().print(
        "win rate: the benchmark prior updated with every play won or lost; until the plays "
        "closed outnumber the prior's weight, the rate is mostly the benchmark"
    )


@app.command("pipeline")
def pipeline_command(
    source: OptionalSource = None,
    playbook: Path = typer.Option(..., "--playbook", help="The playbook YAML file."),
    target: float | None = typer.Option(None, "--target", help="Expansion ARR target."),
    old_source: OldSourceOption = None,
    mapping: MappingOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Open plays valued by offer size x win rate; coverage of an expansion target."""
    from headroom.plays.pipeline import pipeline

    book, plays, src = _inputs(playbook, source, old_source, mapping)
    try:
        result = pipeline(book, plays, src, target)
    finally:
        if src is not None:
            src.close()
    if fmt == Format.json:
        print_json(result.to_dict())
        return
    if fmt == Format.csv:
        emit_rows([p.__dict__ for p in result.plays], fmt)
        return
    out = console()
    cover = "" if result.coverage is None else f", {result.coverage:.0%} of the target"
    out.print(
        f"{len(result.plays):,} open plays, weighted {result.weighted_mrr:,.0f} MRR = "
        f"{result.weighted_arr:,.0f} ARR{cover}"
    )
    if result.unsized:
        out.print(
            f"{result.unsized} plays have no size yet (no won play of their trigger, and no "
            "source to take the median expansion from)"
        )
    for key, rows in (("owner", result.by_owner), ("segment", result.by_segment)):
        emit_rows(
            [
                {
                    key: r[key],
                    "plays": r["plays"],
                    "weighted ARR": f"{r['weighted_arr']:,.0f}",
                    "of target": percent(r["share_of_target"]),
                }
                for r in rows
            ],
            fmt,
            title=f"By {key}",
        )

"""``headroom experiments``: what the plays caused, treated against held-out accounts."""

from __future__ import annotations

from pathlib import Path

import typer

from headroom.cli.main import app, parse_date
from headroom.cli.output import (
    DAY,
    Format,
    FormatOption,
    MappingOption,
    console,
    emit_rows,
    load_source,
    percent,
    print_json,
    report_end,
)


@app.command("experiments")
def experiments_command(
    source: Path = typer.Argument(..., metavar="SOURCE", help="The data its expansions are in."),
    playbook: Path = typer.Option(..., "--playbook", help="The playbook YAML file."),
    horizon_days: int = typer.Option(
        90, "--horizon-days", metavar="DAYS", help="Days after a play its expansion counts in."
    ),
    effect: float = typer.Option(
        0.05,
        "--effect",
        metavar="SHARE",
        help="The uplift in expansion rate to detect at 80% power (0.05: 5 points).",
    ),
    through: str | None = typer.Option(
        None, "--through", metavar=DAY, help="Last day of data to count. Default: where it ends."
    ),
    mapping: MappingOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Treated against held-out accounts per trigger: expansion rate, uplift with 95%
    intervals, incremental expansion ARR, p-value, sample-ratio check."""
    from headroom.playbook.model import load_playbook
    from headroom.plays.experiments import experiments
    from headroom.plays.versions import texts
    from headroom.signals.registry import types
    from headroom.store.database import Store

    asked = parse_date(through, "--through")
    book = load_playbook(playbook, types())
    with Store() as store:
        plays = store.plays()
        kept = texts(store)
    src = load_source(source, mapping)
    try:
        end = report_end(src, asked, "--through")
        result = experiments(book, plays, src, end, horizon_days, effect, kept)
    finally:
        src.close()
    if fmt == Format.json:
        print_json(result.to_dict())
        return
    rows = [t.__dict__ for t in result.triggers]
    if fmt == Format.csv:
        emit_rows(rows, fmt)
        return
    out = console()
    for trigger in result.mismatched:
        out.print(
            f"sample ratio mismatch: {trigger}'s arms are not its configured "
            "split; its numbers cannot be trusted until that is explained (plays recorded "
            "outside the draw, a changed experiment, a tampered store)"
        )
    shown = [*result.triggers]
    if result.overall is not None and len(result.triggers) > 1:
        shown.append(result.overall)
    emit_rows(
        [
            {
                "trigger": t.trigger,
                "treated": f"{t.treated:,}",
                "held out": f"{t.held_out:,}",
                "rate treated": percent(t.rate_treated),
                "rate held out": percent(t.rate_held_out),
                "uplift (95%)": _interval(t.uplift, t.uplift_low, t.uplift_high, points=True),
                "p": _p(t.p_value),
                "incremental ARR (95%)": _interval(
                    t.incremental_arr, t.incremental_arr_low, t.incremental_arr_high
                ),
                "detectable": _detectable(t.days_to_detect),
            }
            for t in shown
        ],
        fmt,
        title=f"Experiment {result.experiment!r}: expansions within {result.horizon_days} "
        f"days, counted to {result.data_end}",
    )
    for d in result.designs:
        split = ", ".join(f"{t} {s:.0%}" for t, s in d.holdouts.items() if s) or "unknown"
        out.print(
            f"drawn under playbook {d.version} from {d.first_fired} to {d.last_fired}: "
            f"{d.plays:,} plays; held out: {split}"
        )
    out.print(
        "Counted: accounts whose horizon is over. 'detectable': when the held-out arm is "
        f"large enough to detect +{result.effect:.0%} at 80% power; a p-value read before "
        "then, after weekly looks, overstates the evidence."
    )


def _interval(
    value: float | None, low: float | None, high: float | None, points: bool = False
) -> str:
    if value is None or low is None or high is None:
        return "n/a"
    if points:
        return f"{value * 100:+.1f} pts ({low * 100:+.1f} to {high * 100:+.1f})"
    return f"{value:,.0f} ({low:,.0f} to {high:,.0f})"


def _detectable(days: int | None) -> str:
    if days is None:
        return "n/a"
    if days > 3650:
        return "not at this volume"
    return "now" if days == 0 else f"in ~{days} days"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"

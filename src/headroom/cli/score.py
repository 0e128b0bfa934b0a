"""``headroom score train|evaluate|card``: the learned readiness score."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from headroom.cli.main import app, new_app, parse_date
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

if TYPE_CHECKING:
    from headroom.signals.readiness import Card

score_app = new_app(
    "The learned readiness score: train it on the source's history, judge it on later months."
)
app.add_typer(score_app, name="score")

HorizonOption = typer.Option(
    90, "--horizon-days", metavar="DAYS", help="Days after a day its expansion counts in."
)


@score_app.command("train")
def train_command(
    source: Path = typer.Argument(..., metavar="SOURCE", help="The data to learn from."),
    through: str = typer.Option(
        ..., "--through", metavar=DAY, help="Last day of data the model may read."
    ),
    horizon_days: int = HorizonOption,
    mapping: MappingOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Train the readiness model on the days up to --through and keep it in the workspace as
    the next version (the `readiness` signal reads the latest)."""
    from headroom.readiness.train import train
    from headroom.signals import readiness

    asked = parse_date(through, "--through")
    src = load_source(source, mapping)
    try:
        end = report_end(src, asked, "--through")
        with console(stderr=True).status("training the readiness model"):
            model = train(src, end, horizon_days)
    finally:
        src.close()
    _show(readiness.save(model.booster, model.card), fmt)


@score_app.command("card")
def card_command(
    version: int | None = typer.Option(
        None, "--version", help="A kept version. Default: the latest."
    ),
    fmt: FormatOption = Format.table,
) -> None:
    """What the workspace's readiness model is: its features, training window and metrics."""
    from headroom.signals import readiness

    _show(readiness.load(version).card, fmt)


def _show(card: Card, fmt: Format) -> None:
    if fmt == Format.json:
        print_json(card.to_dict())
        return
    m = card.metrics
    if fmt == Format.csv:
        emit_rows([{"name": f.name, "sign": f.sign} for f in card.features], fmt)
        return
    out = console()
    out.print(
        f"readiness model v{card.version}, trained on {card.trained_on} with data to "
        f"{card.through}: expansion within {card.horizon_days} days"
    )
    out.print(
        f"trees on {card.train_days[0]} to {card.train_days[1]}, calibrated on "
        f"{card.calibration_days[0]} to {card.calibration_days[1]}; {card.rows:,} account-days, "
        f"{card.positives:,} expanded"
    )
    out.print(
        f"on the calibration days: AUC {_num(m.get('auc'))}, average precision "
        f"{_num(m.get('average_precision'))}, Brier {_num(m.get('brier'), 4)}, calibration "
        f"error {_num(m.get('calibration_error'), 4)} (base rate {percent(m.get('base_rate'))})"
    )
    signs = {1: "can only raise it", -1: "can only lower it", 0: ""}
    emit_rows(
        [{"feature": f.name, "held to": signs[f.sign]} for f in card.features],
        fmt,
        title="features",
    )


@score_app.command("evaluate")
def evaluate_command(
    source: Path = typer.Argument(..., metavar="SOURCE", help="The data to learn from."),
    through: str = typer.Option(
        ..., "--through", metavar=DAY, help="Train on data to this day; judge on the days after."
    ),
    playbook: Path | None = typer.Option(
        None, "--playbook", help="Compare with this playbook's hand rules."
    ),
    end: str | None = typer.Option(
        None,
        "--end",
        metavar=DAY,
        help="Last day of data to judge with. Default: the last day of usage or events.",
    ),
    horizon_days: int = HorizonOption,
    mapping: MappingOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Train on the months to --through, judge on the later ones: AUC, average precision,
    reliability, Brier score, calibration error, and precision at each hand rule's volume."""
    from headroom.playbook.model import load_playbook
    from headroom.readiness.evaluate import activity_end, evaluate
    from headroom.signals.registry import types

    first = parse_date(through, "--through")
    assert first is not None  # a required option
    asked = parse_date(end, "--end")
    book = load_playbook(playbook, types()) if playbook is not None else None
    src = load_source(source, mapping)
    try:
        if asked is None:
            from headroom.metrics.period import report_end as period_end

            loaded = period_end(src, None, "--end", dt.date.today()).day
            last = activity_end(src, loaded)
            console(stderr=True).print(
                f"judged with the data to {last}, the last day of usage or events; pass --end "
                "to choose another end"
            )
        else:
            last = report_end(src, asked, "--end")
        with console(stderr=True).status("training, then replaying the later months"):
            result = evaluate(src, first, last, horizon_days, book)
    finally:
        src.close()
    if fmt == Format.json:
        print_json(result.to_dict())
        return
    rules = [_rule_row(m) for m in result.matches]
    if fmt == Format.csv:
        emit_rows(rules or [_summary(result.to_dict())], fmt)
        return
    out = console()
    d = result.to_dict()
    out.print(
        f"trained on data to {d['through']}; judged on {d['test_days'][0]} to "
        f"{d['test_days'][1]}: {d['rows']:,} account-days, {d['positives']:,} expanded within "
        f"{d['horizon_days']} days (base rate {percent(d['base_rate'])})"
    )
    out.print(
        f"AUC {_num(d['auc'])}, average precision {_num(d['average_precision'])}, Brier "
        f"{_num(d['brier'], 4)}, calibration error {_num(d['calibration_error'], 4)}"
    )
    emit_rows(
        [
            {
                "decile": i + 1,
                "scores": f"{b.low:.3f}-{b.high:.3f}",
                "account-days": f"{b.rows:,}",
                "predicted": percent(b.predicted),
                "expanded": percent(b.observed),
            }
            for i, b in enumerate(result.reliability)
        ],
        fmt,
        title="reliability: predicted against what happened, by decile of the score",
    )
    if rules:
        emit_rows(
            rules,
            fmt,
            title="at each hand rule's volume: readiness above the threshold that fires about "
            "as often",
        )


def _rule_row(m: Any) -> dict[str, Any]:
    return {
        "hand rule": m.trigger,
        "fired": f"{m.fired:,}",
        "precision": percent(m.precision),
        "lift": _num(m.lift, 2),
        "readiness >": _num(m.readiness_threshold, 3),
        "readiness fired": f"{m.readiness_fired:,}",
        "readiness precision": percent(m.readiness_precision),
        "readiness lift": _num(m.readiness_lift, 2),
        "ratio": _num(m.ratio, 2),
    }


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    keep = ("rows", "positives", "auc", "average_precision", "brier", "calibration_error")
    return {k: d[k] for k in keep}


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"

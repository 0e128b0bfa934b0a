"""``headroom run SOURCE --playbook P --as-of D``: evaluate, record, print plays and decisions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

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
    print_json,
)
from headroom.cli.plays import COLUMNS_HELP, emit_plays, table_columns


@app.command("run")
def run_command(
    source: SourceArgument,
    playbook: Path = typer.Option(..., "--playbook", help="The playbook YAML file."),
    as_of: str = typer.Option(
        ..., "--as-of", metavar=DAY, help="Evaluate as of the end of this day."
    ),
    mapping: MappingOption = None,
    engine: EngineOption = "duckdb",
    dry_run: bool = typer.Option(False, "--dry-run", help="Record nothing."),
    fmt: FormatOption = Format.table,
    columns: str | None = typer.Option(None, "--columns", metavar="NAME,...", help=COLUMNS_HELP),
) -> None:
    """Evaluate a playbook as of a day; record its plays and decisions (once per day)."""
    from headroom.store.database import Store
    from headroom.usecases.run import run_playbook

    day = parse_date(as_of, "--as-of")
    assert day is not None
    shown = table_columns(columns)  # a wrong column is said before any work
    with Store() as store:
        done = run_playbook(
            store, source, playbook, day, mapping=mapping, engine=engine, dry_run=dry_run,
            load_source=load_source,
        )  # fmt: skip
    plays = [p.to_dict() for p in done.plays]
    decisions = [d.to_dict() for d in done.decisions]
    _print(day, plays, decisions, fmt, shown, recorded=done.recorded_earlier)


def _print(
    day: dt.date,
    plays: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    fmt: Format,
    columns: list[str],
    recorded: bool,
) -> None:
    if fmt == Format.json:
        print_json({"as_of": day, "plays": plays, "decisions": decisions})
        return
    if fmt == Format.csv:
        emit_rows(decisions, fmt, ["account_id", "trigger", "action", "reason", "until", "play_id"])
        return
    out = console()
    note = " (recorded earlier; nothing new)" if recorded else ""
    out.print(f"as of {day}: {len(plays)} plays fired, {len(decisions)} decisions{note}")
    if plays:
        emit_plays(plays, fmt, columns)

"""``headroom check PLAYBOOK [SOURCE]``: validate a playbook, and what a source can feed it."""

from __future__ import annotations

from pathlib import Path

import typer

from headroom.cli.main import app
from headroom.cli.output import (
    SOURCE_HELP,
    Format,
    FormatOption,
    MappingOption,
    console,
    emit_rows,
    load_source,
    print_json,
)


@app.command("check")
def check_command(
    playbook: Path = typer.Argument(..., help="The playbook YAML file."),
    source: Path | None = typer.Argument(None, help=SOURCE_HELP),
    mapping: MappingOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Validate a playbook (errors with file, line and column) and what a source can feed."""
    from headroom.messages import load_templates
    from headroom.playbook.model import load_playbook
    from headroom.signals.registry import missing_tables, types

    book = load_playbook(playbook, types())
    templates = load_templates(book)
    unfed: dict[str, list[str]] = {}
    if source is not None:
        src = load_source(source, mapping)
        try:
            unfed = missing_tables(src, book.signals())
        finally:
            src.close()
    rows = [
        {
            "trigger": t.id,
            "when": t.when,
            "for": t.for_ or "",
            "timing": t.timing,
            "offer": t.offer,
            "priority": t.priority,
        }
        for t in book.model.triggers
    ]
    if fmt == Format.json:
        print_json(
            {
                "playbook": book.model.name,
                "version": book.version,
                "valid": True,
                "triggers": rows,
                "signals": sorted(book.signals()),
                "signals_the_source_cannot_feed": unfed,
                "templates": sorted(templates.sources),
            }
        )
        return
    if fmt == Format.csv:
        emit_rows(rows, fmt)
        return
    out = console()
    out.print(f"{playbook.name}: valid ({book.model.name}, version {book.version})")
    emit_rows(rows, fmt, title="Triggers")
    out.print(f"signals used: {', '.join(sorted(book.signals()))}")
    if templates.folder is None:
        out.print("no templates/ beside the playbook: plays are recorded without drafts")
    else:
        out.print(f"templates: {', '.join(sorted(templates.sources))} (each checked)")
    for name, tables in unfed.items():
        out.print(f"  {name} has no values from this source: it needs {', '.join(tables)}")

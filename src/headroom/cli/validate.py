"""``headroom validate SOURCE``: every error and warning of a source, exit 1 on any error."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from headroom.cli.main import app, parse_date
from headroom.cli.output import (
    MAPPING_HELP,
    Format,
    FormatOption,
    SourceArgument,
    console,
    print_csv,
    print_json,
)
from headroom.cli.output import validate_source as validate  # by its old name: tests patch it

if TYPE_CHECKING:
    from headroom.sources import Report


def print_report(report: Report) -> None:
    out = console()
    out.print(report.headline())
    if report.tables:
        out.print()
        for info in report.tables.values():
            ignored = (
                f"  (ignored columns: {', '.join(info.ignored_columns)})"
                if info.ignored_columns
                else ""
            )
            rows = f"{info.rows:>12,} row{'s' * (info.rows != 1)}"
            skipped = f"  ({info.skipped:,} left out by the mapping)" if info.skipped else ""
            out.print(f"  {info.name:<14} {info.file:<36} {rows}{skipped}{ignored}")
    if report.ignored_files:
        out.print(f"  not read: {', '.join(report.ignored_files)}")
    for title, problems in (("Errors", report.errors), ("Warnings", report.warnings)):
        if not problems:
            continue
        out.print()
        out.print(f"{title}:")
        for i, p in enumerate(problems):
            if i:
                out.print()
            for line in p.lines():
                out.print(line)


CSV_COLUMNS = (
    "severity",
    "code",
    "table",
    "file",
    "location",
    "column",
    "value",
    "message",
    "count",
)


def csv_rows(report: Report) -> list[dict[str, Any]]:
    """One row per example of each problem; a problem without examples gets one row of its own.

    ``count`` is the size of the whole group, repeated on each of its example rows.
    """
    rows: list[dict[str, Any]] = []
    for p in report.problems:
        group: dict[str, Any] = {"severity": p.severity, "code": p.code, "table": p.table}
        group |= {"file": p.file, "column": p.column, "count": p.count}
        if not p.examples:
            rows.append(group | {"location": None, "value": None, "message": p.summary})
        for ex in p.examples:
            rows.append(group | {"location": ex.location, "value": ex.value, "message": ex.message})
    return rows


@app.command("validate")
def validate_command(
    source: SourceArgument,
    mapping: Path | None = typer.Option(None, "--mapping", help=MAPPING_HELP, metavar="FILE"),
    today: str | None = typer.Option(
        None,
        "--today",
        metavar="YYYY-MM-DD",
        help="The day dates are checked against (default: today).",
    ),
    fmt: FormatOption = Format.table,
) -> None:
    """Check a source against the data contract; list every error and warning."""
    report, _ = validate(source, mapping, today=parse_date(today, "--today"))
    if fmt == Format.json:
        print_json(report.to_dict())
    elif fmt == Format.csv:
        print_csv(csv_rows(report), CSV_COLUMNS)
    else:
        print_report(report)
    if not report.ok:
        typer.echo(f"error: {report.headline()}", err=True)
        raise typer.Exit(1)

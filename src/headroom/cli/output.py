"""Printing results as a table for people, or JSON / CSV for programs."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

#: Help shared by every command that reads a source.
SOURCE_HELP = "A data folder (<table>.csv / <table>.parquet files) or a source YAML file."
MAPPING_HELP = "A source YAML file whose table and column mapping applies to the SOURCE folder."


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def console(stderr: bool = False) -> Console:
    # markup off: values from user data may contain [brackets] that Rich would eat
    out = Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out.width = max(out.width, 160)  # piped or captured: never fold a table into slivers
    return out


def percent(value: float | None) -> str:
    """A share for people: ``0.1234`` is ``12.3%``; no value is ``n/a``."""
    return "n/a" if value is None else f"{value:.1%}"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_plain, indent=2) + "\n")


def print_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    columns = list(columns or (rows[0].keys() if rows else []))
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _plain(row.get(c)) for c in columns])


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, title: str | None = None
) -> None:
    columns = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title, title_justify="left", show_lines=False)
    for c in columns:
        numeric = bool(rows) and all(
            isinstance(r.get(c), int | float | decimal.Decimal)
            for r in rows
            if r.get(c) is not None
        )
        # Long prose (a condition, a reason) wraps; ids, figures and dates never break.
        prose = not numeric and any(
            len(text) > 40 and " " in text for text in (_cell(r.get(c)) for r in rows)
        )
        table.add_column(c, justify="right" if numeric else "left", no_wrap=not prose)
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    console().print(table)


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, float):
        if abs(value) < 10:  # ratios and shares: keep their precision, drop trailing zeros
            return f"{value:.4f}".rstrip("0").rstrip(".")
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def emit_rows(
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Rows in the chosen format: a Rich table, a JSON array, or CSV with a header."""
    if fmt == Format.json:
        print_json(list(rows))
    elif fmt == Format.csv:
        print_csv(rows, columns)
    else:
        print_table(rows, columns, title)

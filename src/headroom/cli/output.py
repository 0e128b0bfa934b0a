"""Printing results as a table for people, or JSON / CSV for programs; reading a source with
a progress bar.

Every command imports this module to start, ``--help`` included, so it imports Rich (and the
loader) only when something is printed or read: see ``benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import inspect
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import ProgressColumn, TaskID

    from headroom.sources import Report, Source

T = TypeVar("T")

#: Help shared by every command that reads a source.
SOURCE_HELP = "A data folder (<table>.csv / <table>.parquet files) or a source YAML file."
MAPPING_HELP = "A source YAML file whose table and column mapping applies to the SOURCE folder."
#: The engines ``--engine`` offers, named here so that the help does not import the engines
#: (and ibis with them); tests/test_startup.py checks it against the registered ones.
ENGINES = ("duckdb", "spark")
ENGINE_HELP = f"One of {', '.join(ENGINES)}."

#: How the help writes a day and a month: every date option is parsed by one of
#: :func:`headroom.cli.main.parse_date` and :func:`headroom.metrics.revenue.parse_month`.
DAY = "YYYY-MM-DD"
MONTH = "YYYY-MM"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


#: The options every command spells alike (one vocabulary: the same flag, the same values,
#: the same help wherever it appears).
FormatOption = Annotated[Format, typer.Option("--format", help="table, json or csv.")]
MappingOption = Annotated[
    Path | None, typer.Option("--mapping", help=MAPPING_HELP, metavar="MAPPING.yaml")
]
#: A source, as every command that reads one takes it: the first argument.
SourceArgument = Annotated[
    Path, typer.Argument(help=SOURCE_HELP, metavar="SOURCE", show_default=False)
]
EngineOption = Annotated[str, typer.Option("--engine", help=ENGINE_HELP, metavar="|".join(ENGINES))]


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def console(stderr: bool = False) -> Console:
    from rich.console import Console

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
    from rich.table import Table

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


def report_end(src: Source, asked: dt.date | None, option: str, *, month: bool = False) -> dt.date:
    """The day a report ends (:func:`headroom.metrics.period.report_end`): ``asked``, checked
    against where the source's data ends, else there; a default it chose is said on stderr."""
    from headroom.metrics import period

    find = period.report_month if month else period.report_end
    end = find(src, asked, option, dt.date.today())
    if end.chosen is not None:
        console(stderr=True).print(
            f"through {end.day}, {end.chosen}; pass {option} to choose another end"
        )
    return end.day


def load_source(
    source: Path,
    mapping: Path | None = None,
    *,
    today: dt.date | None = None,
    reads: Mapping[str, dt.date | None] | None = None,
) -> Source:
    """:func:`headroom.sources.load`, its steps drawn on a terminal (every command loads so)."""
    from headroom.sources import load

    return _reading(load, source, mapping, today=today, reads=reads)


def validate_source(
    source: Path, mapping: Path | None = None, *, today: dt.date | None = None
) -> tuple[Report, Path | None]:
    """:func:`headroom.sources.validate`, its steps drawn on a terminal."""
    from headroom.sources import validate

    return _reading(validate, source, mapping, today=today)


def _reading(read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``read(*args, **kwargs)`` with bars on stderr, when ``read`` reports its steps
    (``progress=``) and stderr is a terminal that can show them."""
    if "progress" not in inspect.signature(read).parameters:
        return read(*args, **kwargs)
    err = console(stderr=True)
    if not err.is_terminal:  # piped, captured or in a log: bars would only be noise
        return read(*args, **kwargs)
    with StepBars(err) as bars:
        return read(*args, progress=bars, **kwargs)


class StepBars:
    """The loader's :class:`~headroom.sources.progress.Progress` drawn by Rich: a bar per step
    while it runs (with rows per second for a step that counts rows), a spinner for a step that
    does not know its total. Transient: the bars are gone when the work is done."""

    def __init__(self, err: Console) -> None:
        from rich.progress import Progress

        self._bars = Progress(*_step_columns(), console=err, transient=True)
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> StepBars:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def start(self, step: str, total: int | None = None, unit: str = "rows") -> None:
        self._tasks[step] = self._bars.add_task(step, total=total, unit=unit)

    def advance(self, step: str, amount: int) -> None:
        if step in self._tasks:
            self._bars.advance(self._tasks[step], amount)

    def finish(self, step: str) -> None:
        if step in self._tasks:  # a finished step makes room for the next
            self._bars.remove_task(self._tasks.pop(step))


def _step_columns() -> list[ProgressColumn]:
    # Defined on first use: subclassing Rich's columns at import would import Rich with this
    # module, and so with every command.
    from rich.console import RenderableType
    from rich.progress import (
        BarColumn,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class BarOrSpinner(ProgressColumn):
        """A bar for a step that knows its total, a spinner for one that does not."""

        def __init__(self) -> None:
            super().__init__()
            self.bar, self.spinner = BarColumn(), SpinnerColumn()

        def render(self, task: Task) -> RenderableType:
            return (self.spinner if task.total is None else self.bar).render(task)

    class Done(ProgressColumn):
        """How much is done (of how much) in the step's unit, and rows per second."""

        def render(self, task: Task) -> Text:
            unit = str(task.fields.get("unit") or "")
            if task.total is None and not task.completed:
                return Text("")
            done = f"{task.completed:,.0f}"
            if task.total is not None:
                done += f"/{task.total:,.0f}"
            speed = task.finished_speed or task.speed
            rate = f", {speed:,.0f} rows/s" if unit == "rows" and speed else ""
            return Text(f"{done} {unit}".rstrip() + rate)

    return [
        BarOrSpinner(),
        TextColumn("{task.description}", markup=False),
        Done(),
        TimeElapsedColumn(),
    ]

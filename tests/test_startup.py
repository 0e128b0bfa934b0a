"""A quick start: ``headroom --help`` and every command's help load none of the heavy libraries.

What they cost in time is measured by ``benchmarks/bench_startup.py``; these tests hold the
behaviour that keeps it low (times on a shared machine wander, imports do not).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from headroom.cli import output

#: Libraries that only the commands that use them may import.
HEAVY = (
    "ibis", "duckdb", "scipy", "lifelines", "pyspark", "fastapi", "starlette", "uvicorn",
    "sqlalchemy", "alembic", "jinja2", "pandas", "pyarrow", "numpy", "httpx", "slack_sdk",
    "argon2", "rich",
)  # fmt: skip

#: Imports the CLI, shows the help of the whole tree of commands, prints what got imported.
HELP_OF_EVERY_COMMAND = """
import contextlib, io, json, sys
import typer.main
from headroom.cli.main import app, main

def walk(command, path):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, [*path, name])

shown = []
for path in walk(typer.main.get_command(app), []):
    sys.argv = ["headroom", *path, "--help"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, (path, exc.code)
    assert "Usage:" in out.getvalue(), path
    shown.append(" ".join(path))
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"shown": shown, "heavy": heavy}))
"""


def test_help_of_every_command_imports_no_heavy_library() -> None:
    script = f"HEAVY = {HEAVY!r}\n" + HELP_OF_EVERY_COMMAND
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"", "validate", "run", "plays list", "users add"} <= set(result["shown"])
    assert result["heavy"] == []


def test_importing_the_cli_imports_no_heavy_library() -> None:
    script = (
        "import json, sys; from headroom.cli.main import app; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) & set(HEAVY) == set()


def test_the_engines_the_help_names_are_the_registered_ones() -> None:
    from headroom.sources.engines import engine_names

    assert list(output.ENGINES) == engine_names()


def _before_progress(source: Path, mapping: Path | None = None, *, today: Any = None) -> Any:
    return ("read", source, mapping, today)


def _with_progress(
    source: Path, mapping: Path | None = None, *, today: Any = None, progress: Any = None
) -> Any:
    if progress is not None:
        progress.start("read usage_daily.csv", total=1000, unit="rows")
        progress.advance("read usage_daily.csv", 400)
        progress.advance("read usage_daily.csv", 600)
        progress.finish("read usage_daily.csv")
        progress.start("store usage_daily", None, "")
        progress.finish("store usage_daily")
    return ("read", source, mapping, today, type(progress).__name__)


def test_a_loader_without_progress_is_called_as_it_was() -> None:
    assert output._reading(_before_progress, Path("s"), None, today=None) == (
        "read", Path("s"), None, None,
    )  # fmt: skip


def test_no_bars_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "console", lambda stderr=False: Console(file=io.StringIO()))
    got = output._reading(_with_progress, Path("s"), None, today=None)
    assert got == ("read", Path("s"), None, None, "NoneType")  # the loader's own default


def test_bars_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    term = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(output, "console", lambda stderr=False: term)
    got = output._reading(_with_progress, Path("s"), None, today=None)
    assert got == ("read", Path("s"), None, None, "StepBars")
    drawn = screen.getvalue()
    assert "read usage_daily.csv 0/1,000 rows" in drawn and "store usage_daily" in drawn
    assert drawn.endswith("\x1b[2K\x1b[?25h\r")  # transient: the last line cleared


def _task(step: str, total: float | None, completed: float, unit: str) -> Any:
    from rich.progress import Task, TaskID

    task = Task(TaskID(0), step, total, completed, _get_time=lambda: 2.0, fields={"unit": unit})
    task.start_time = 0.0
    return task


def test_a_step_shows_rows_per_second_or_a_spinner() -> None:
    from rich.progress import ProgressSample

    bar_or_spinner, _, done, _ = output._step_columns()
    rows = _task("read usage_daily.csv", 1000, 1000, "rows")
    rows._progress.extend([ProgressSample(t, n) for t, n in ((0.0, 0), (1.0, 500), (2.0, 500))])
    assert str(done.render(rows)) == "1,000/1,000 rows, 500 rows/s"
    assert type(bar_or_spinner.render(rows)).__name__ == "ProgressBar"
    store = _task("store usage_daily", None, 0, "")
    assert str(done.render(store)) == ""
    assert type(bar_or_spinner.render(store)).__name__ != "ProgressBar"  # a spinner

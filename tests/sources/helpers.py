"""Writing small sources and running ``headroom validate`` on them in-process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from headroom.cli.main import app

#: The day every test validates against, so that "after today" never depends on the clock.
TODAY = "2026-11-01"

SUBS_HEADER = "subscription_id,account_id,start_date,mrr\n"
ONE_SUB = SUBS_HEADER + "s1,a1,2024-01-01,10\n"


@dataclass
class Run:
    """One ``headroom`` run: exit code, stdout lines and stderr."""

    code: int
    out: list[str]
    err: str

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)

    def json(self) -> Any:
        return json.loads(self.stdout)

    def section(self, title: str) -> list[str]:
        """The non-blank lines under ``Errors:`` or ``Warnings:`` of the table report."""
        if f"{title}:" not in self.out:
            return []
        start = self.out.index(f"{title}:") + 1
        end = self.out.index("Warnings:") if title == "Errors" and "Warnings:" in self.out else None
        return [line for line in self.out[start:end] if line]

    @property
    def errors(self) -> list[str]:
        return self.section("Errors")

    @property
    def warnings(self) -> list[str]:
        return self.section("Warnings")


def write_source(folder: Path, files: Mapping[str, str | bytes]) -> Path:
    """A folder holding ``files`` (text is written as UTF-8 with the line breaks given)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode()
        (folder / name).write_bytes(data)
    return folder


def headroom(*args: str) -> Run:
    """Run the CLI in-process; a traceback anywhere is a failure of the test."""
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return Run(result.exit_code, result.stdout.splitlines(), result.stderr)


def validate(source: Path, *extra: str) -> Run:
    """``headroom validate SOURCE --today 2026-11-01 [extra]``."""
    return headroom("validate", str(source), "--today", TODAY, *extra)


def loaded_files(workspace: Path) -> list[Path]:
    """The loaded sources (DuckDB files) in the workspace."""
    return sorted(workspace.glob("sources/*.duckdb"))

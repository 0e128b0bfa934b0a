"""A load built aside and put in place in one step: the building engine (within the memory
limit, spilling to the workspace), the staged rows dropped, the file renamed into place with its
report and manifest, and what a crashed load left behind removed."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ibis

from headroom.sources.limits import limit
from headroom.sources.progress import SILENT, Progress
from headroom.sources.readers import STAGE, literal, quoted
from headroom.sources.report import Problem, Report
from headroom.sources.schema import TABLES
from headroom.sources.stage import step


def prepare(con: Any, workspace: Path) -> None:
    """The building engine: within the memory limit, spilling to the workspace; timestamps
    without a zone read as UTC."""
    limit(con, workspace)
    con.raw_sql("SET TimeZone = 'UTC'")
    # Tables are stored in the order their ORDER BY gives; nothing else needs arrival order,
    # and keeping it costs memory.
    con.raw_sql("SET preserve_insertion_order = false")


def drop_staged(con: Any) -> None:
    """The staged rows are temporary: dropped before the file is put in place."""
    for name, kind in con.raw_sql(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = 'temp'"
    ).fetchall():
        what = "VIEW" if kind == "VIEW" else "TABLE"
        con.raw_sql(f"DROP {what} IF EXISTS temp.main.{quoted(name)}")
    con.raw_sql(f"DETACH DATABASE IF EXISTS {STAGE}")


ASIDE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{6}\.(?:building|stage)(?:\.wal)?$")


def remove_abandoned(folder: Path) -> None:
    """Remove the files of loads whose process is gone (killed mid-way: a staged source can
    be gigabytes). A load still running, by any process alive, is left alone."""
    for path in folder.glob(".*"):
        found = ASIDE.match(path.name)
        if found is None:
            continue
        try:
            os.kill(int(found.group(1)), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (PermissionError, OverflowError, ValueError):  # alive (another user's), or no pid
            continue


@contextmanager
def built(
    target: Path, workspace: Path, copy_of: Path | None = None, progress: Progress = SILENT
) -> Iterator[tuple[Path, Any]]:
    """A file built aside (empty, or a copy of ``copy_of``) and an engine on it, set for
    loading; the file is gone afterwards unless it was put in place."""
    remove_abandoned(target.parent)
    building = target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:6]}.building")
    stage = building.with_suffix(".stage")  # the rows as read, until they are checked
    con = None
    try:
        if copy_of is not None:
            with step(progress, "copy the loaded source"):
                shutil.copyfile(copy_of, building)
        con = ibis.duckdb.connect(building)
        prepare(con, workspace)
        con.raw_sql(f"ATTACH {literal(str(stage))} AS {STAGE}")
        yield building, con
    finally:
        if con is not None:
            con.disconnect()
        for path in (building, stage):
            path.unlink(missing_ok=True)
            Path(f"{path}.wal").unlink(missing_ok=True)


def put_in_place(building: Path, target: Path, report: Report, made: dict[str, Any]) -> None:
    """The built file, its report and its manifest in place; older loads of the source gone."""
    building.replace(target)
    target.with_suffix(".report.json").write_text(json.dumps(report.to_dict()))
    target.with_suffix(".load.json").write_text(json.dumps(made))
    prefix = target.stem.rsplit("-", 1)[0]
    for old in target.parent.glob(f"{prefix}-*.duckdb"):
        if old != target:
            old.unlink(missing_ok=True)
            old.with_suffix(".report.json").unlink(missing_ok=True)
            old.with_suffix(".load.json").unlink(missing_ok=True)


def order_problems(report: Report) -> None:
    """Errors first, then warnings, each in contract table order, then in file order."""
    order = {name: i for i, name in enumerate(TABLES)}

    def first_line(p: Problem) -> int:
        where = p.examples[0].location if p.examples else ""
        number = re.match(r"(?:line|row) (\d+)", where)
        return int(number.group(1)) if number else 0

    report.problems.sort(
        key=lambda p: (p.severity != "error", order.get(p.table, 99), first_line(p))
    )

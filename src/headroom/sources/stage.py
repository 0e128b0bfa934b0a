"""Every located table of a source staged in the building engine, streaming; what stops a
table from being read is listed and the others are read all the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from headroom.sources.config import SourceSpec
from headroom.sources.discover import Located, database_of
from headroom.sources.progress import Progress
from headroom.sources.read_csv import stage_csv
from headroom.sources.read_typed import stage_database, stage_parquet
from headroom.sources.readers import RawTable, ReadFailedError
from headroom.sources.report import Example, Problem


def stage_all(
    spec: SourceSpec,
    located: list[Located],
    db: Any,
    con: Any,
    progress: Progress,
    lines: dict[str, int],
    earlier: dict[str, list[str]] | None = None,
    reads: Mapping[str, dt.date | None] | None = None,
) -> tuple[list[RawTable], list[Problem]]:
    """Stage every table in ``con``, streaming; what stops a table from being read is listed,
    and the others are read all the same. ``lines`` gets each CSV file's count of lines;
    ``earlier`` names, per table, the files of its folder loaded before (new days);
    ``reads``, the day a database's dated tables are read from (absent or None: whole)."""
    raws: list[RawTable] = []
    problems: list[Problem] = []
    for loc in located:
        mapping = spec.mapping(loc.table)
        before = (earlier or {}).get(loc.table)
        try:
            if loc.kind == "csv":
                raw, found, counted = stage_csv(
                    con, loc.table, list(loc.parts), loc.label, mapping, progress, before
                )
                lines.update(counted)
            elif loc.kind == "parquet":
                raw = stage_parquet(
                    con, loc.table, list(loc.parts), loc.label, mapping, progress, before
                )
                found = []
            else:
                assert spec.database is not None
                t = db.table(loc.location, database=database_of(db, spec.database.schema_))
                since = (reads or {}).get(loc.table)
                raw = stage_database(con, loc.table, t, loc.label, mapping, progress, since)
                found = []
        except ReadFailedError as failed:
            problems.extend(failed.problems)
            continue
        except OSError as exc:  # a file that vanished or may not be read
            reason = exc.strerror or type(exc).__name__
            problems.append(
                Problem(
                    "error",
                    "unreadable",
                    loc.table,
                    loc.label,
                    None,
                    1,
                    [Example("", None, f"the file cannot be read ({reason})")],
                )
            )
            continue
        raws.append(raw)
        problems.extend(found)
    return raws, problems


@contextmanager
def step(progress: Progress, step: str) -> Iterator[None]:
    progress.start(step)
    try:
        yield
    finally:
        progress.finish(step)

"""A source that grew by days loads only the new days: the new rows checked (with the problems
of the rows loaded before carried over) and appended to a copy of the previous load (see
:mod:`headroom.sources.incremental` for how growth is told apart from change)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headroom.sources import incremental, rules
from headroom.sources.building import built, drop_staged, order_problems, put_in_place
from headroom.sources.config import SourceSpec
from headroom.sources.discover import Located
from headroom.sources.layout import laid_out
from headroom.sources.progress import Progress
from headroom.sources.readers import RawTable
from headroom.sources.reading import read_as_written
from headroom.sources.report import Report
from headroom.sources.stage import stage_all, step
from headroom.sources.stored import LOAD_VERSION, combined, record_data_end, typed
from headroom.sources.validate import Validator


@dataclass
class Grown:
    """A source that grew by days since ``path`` was loaded."""

    growth: incremental.Growth
    located: list[Located]
    path: Path  # the previous load
    report: Report  # its report


def growth(
    spec: SourceSpec, located: list[Located], store: Path, prefix: str, today: dt.date
) -> Grown | None:
    """The previous load of this source, and what is new since, when only days were added."""
    # the loads (with their manifests), not the files made from them (account pages' copies)
    loads = sorted(
        (p for p in store.glob(f"{prefix}-*.duckdb") if p.with_suffix(".load.json").exists()),
        key=lambda p: p.stat().st_mtime_ns,
    )
    if not loads:
        return None
    path = loads[-1]
    previous = incremental.read_manifest(path.with_suffix(".load.json"))
    try:
        old = Report.from_dict(json.loads(path.with_suffix(".report.json").read_text()))
    except (OSError, ValueError, KeyError):
        return None
    mappings = {loc.table: spec.mapping(loc.table) for loc in located}
    grown = incremental.growth(
        previous, old, LOAD_VERSION, spec.config_text, today.isoformat(), located, mappings
    )
    return None if grown is None else Grown(grown, located, path, old)


def load_growth(
    spec: SourceSpec,
    grown: Grown,
    report: Report,
    today: dt.date,
    workspace: Path,
    target: Path,
    progress: Progress,
) -> tuple[Report, Path | None]:
    """Check the new rows only and append them to a copy of the previous load."""
    with built(target, workspace, grown.path, progress) as (building, con):
        old = grown.report
        report.tables = {n: dataclasses.replace(t) for n, t in old.tables.items()}
        v = Validator(con, report, today, carried=old)
        for name in ("accounts", "subscriptions"):  # what new rows are checked against
            if name in old.tables:
                info = old.tables[name]
                v.raw[name] = RawTable(name, info.file or name, "line", name, info.rows)
                v.tables[name] = con.table(name)
        lines: dict[str, int] = {}
        kinds = {loc.table: loc.kind for loc in grown.located}
        new = [
            Located(name, kinds[name], "", old.tables[name].file or name, tuple(parts))
            for name, parts in grown.growth.new.items()
            if parts
        ]
        raws, problems = stage_all(spec, new, None, con, progress, lines, grown.growth.earlier)
        for problem in problems:
            report.add(problem)
        for raw in raws:
            name = raw.name
            v.register(raw)
            read_as_written(v, name, spec.mapping(name))
            v.totals[name] = old.tables[name].rows + raw.rows
            report.tables[name].rows += raw.rows
            with step(progress, f"check {name}"):
                v.column_checks(name)
                v.key_checks(name)
                v.repeats_of_loaded(name, con.table(name))
                v.reference_checks(name)
                if name == "usage_daily":
                    rules.usage_outside_checks(v)
        v.carry_the_rest()
        order_problems(report)
        if not report.ok:
            return report, None
        for name in grown.growth.new:
            if name not in v.raw or v.raw[name].relation == name:
                continue
            rows = combined(name, typed(name, v.tables[name]), "reject")
            if name == "events":  # an event loaded before is kept, as a full load keeps it
                known = con.table("events").select(_e="event_id")
                rows = rows.anti_join(known, rows.event_id == known._e)
            with step(progress, f"store {name}"):
                con.insert(name, laid_out(name, rows, con))
        record_data_end(con, spec, report, today)
        drop_staged(con)
        con.disconnect()
        made = remade(grown, today, lines)
        put_in_place(building, target, report, made)
        return report, target


def remade(grown: Grown, today: dt.date, lines: dict[str, int]) -> dict[str, Any]:
    """The previous manifest with the files as they are now."""
    made = dict(grown.growth.previous)
    made["today"] = today.isoformat()
    tables = dict(made["tables"])
    for loc in grown.located:
        if loc.table not in grown.growth.new:
            continue
        counted = {p["label"]: p["lines"] for p in tables[loc.table]["parts"]} | lines
        tables[loc.table] = dict(tables[loc.table]) | {
            "parts": [incremental.describe(p, loc.kind, counted.get(p.label)) for p in loc.parts]
        }
    made["tables"] = tables
    return made

"""Loading only what is new: a source that grew by days loads in time proportional to the days.

A loaded source keeps a manifest beside it (``.load.json``): every file it read, with its size,
time and a digest of its first and last bytes. When the source is validated again, the usage
and event tables may have grown in two ways that leave what was loaded untouched:

* new files in a table's folder (``usage_daily/2026-12-06.parquet``), named after the old ones;
* rows appended to a CSV file (its old bytes unchanged, the old part ending on a line break).

When every other file is as it was, only the new rows are read, checked (against themselves and
against the rows loaded before) and appended to a copy of the loaded file: the same tables a
full load gives, in the same tables' order of rows within each new day. Anything else (a file
rewritten, a table's other files changed, a mapping changed, warnings that hang on the day
they were checked) loads the whole source again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headroom.sources.readers import Part
from headroom.sources.report import Report

#: The tables that grow by days; everything else is small and must be unchanged.
APPENDABLE = ("usage_daily", "events")
_DIGEST_BYTES = 64 * 1024
#: Warnings whose count would change for rows loaded before, when the day they were checked
#: against moves on.
_DAY_BOUND = ("future_date",)


def _digest(path: Path, start: int, end: int) -> str:
    with path.open("rb") as f:
        f.seek(start)
        return hashlib.sha256(f.read(max(end - start, 0))).hexdigest()


def describe(part: Part, kind: str, lines: int | None) -> dict[str, Any]:
    """What the manifest keeps of one file."""
    st = part.path.stat()
    size = st.st_size
    return {
        "label": part.label,
        "path": str(part.path.resolve()),
        "kind": kind,
        "size": size,
        "mtime_ns": st.st_mtime_ns,
        "head": _digest(part.path, 0, min(size, _DIGEST_BYTES)),
        "tail": _digest(part.path, max(size - _DIGEST_BYTES, 0), size),
        "lines": lines,
    }


def manifest(
    version: str,
    config_text: str,
    today: str,
    located: list[Any],
    lines: dict[str, int],
) -> dict[str, Any]:
    """The manifest of a load: the files of each table, as they were read."""
    return {
        "version": version,
        "config": hashlib.sha256(config_text.encode()).hexdigest(),
        "today": today,
        "tables": {
            loc.table: {
                "label": loc.label,
                "kind": loc.kind,
                "parts": [describe(p, loc.kind, lines.get(p.label)) for p in loc.parts],
            }
            for loc in located
        },
    }


@dataclass
class Growth:
    """What is new in a source since its last load: per table, the parts to read."""

    new: dict[str, list[Part]]
    earlier: dict[str, list[str]]  # per table, the names of the folder's files loaded before
    previous: dict[str, Any]  # the previous manifest


def _same(old: dict[str, Any], part: Part) -> bool:
    st = part.path.stat()
    return bool(
        old["path"] == str(part.path.resolve())
        and old["size"] == st.st_size
        and old["mtime_ns"] == st.st_mtime_ns
    )


def _appended(old: dict[str, Any], part: Part) -> Part | None:
    """The rows appended to a CSV file since it was read, or None if it changed otherwise."""
    size = part.path.stat().st_size
    was = int(old["size"])
    if old["kind"] != "csv" or old.get("lines") is None or size <= was:
        return None
    if old["path"] != str(part.path.resolve()):
        return None
    if _digest(part.path, 0, min(was, _DIGEST_BYTES)) != old["head"]:
        return None
    if _digest(part.path, max(was - _DIGEST_BYTES, 0), was) != old["tail"]:
        return None
    with part.path.open("rb") as f:
        f.seek(was - 1)
        last, following = f.read(1), f.read(1)
    if last not in (b"\n", b"\r"):  # the old last line would go on in the new bytes
        return None
    if last == b"\r" and following == b"\n":  # a CRLF cut in two
        return None
    return Part(part.path, part.label, start=was, first_line=int(old["lines"]) + 1)


def growth(
    previous: dict[str, Any] | None,
    report: Report | None,
    version: str,
    config_text: str,
    today: str,
    located: list[Any],
    mappings: dict[str, Any],
) -> Growth | None:
    """The new parts of the appendable tables, when nothing else changed; else None."""
    if previous is None or report is None or not report.ok:
        return None
    if previous.get("version") != version or today < str(previous.get("today")):
        return None
    if previous.get("config") != hashlib.sha256(config_text.encode()).hexdigest():
        return None
    if any(p.code in _DAY_BOUND for p in report.problems):
        return None
    tables = previous["tables"]
    if {loc.table for loc in located} != set(tables):
        return None
    new: dict[str, list[Part]] = {}
    earlier: dict[str, list[str]] = {}
    for loc in located:
        was = tables[loc.table]
        if was["kind"] != loc.kind or was["label"] != loc.label:
            return None
        old_parts = was["parts"]
        if loc.table not in APPENDABLE:
            if len(old_parts) != len(loc.parts):
                return None
            if not all(_same(o, p) for o, p in zip(old_parts, loc.parts, strict=True)):
                return None
            continue
        m = mappings[loc.table]
        if m.lookup or m.combine != "reject":
            return None  # new rows could change rows loaded before
        if loc.label.endswith("/"):  # a folder: the old files as they were, new ones after
            n = len(old_parts)
            if len(loc.parts) < n or not all(
                _same(o, p) for o, p in zip(old_parts, loc.parts[:n], strict=True)
            ):
                return None
            added = list(loc.parts[n:])
            if added and n and added[0].label <= old_parts[-1]["label"]:
                return None
            new[loc.table] = added
            earlier[loc.table] = [Part(Path(o["path"]), o["label"]).name for o in old_parts]
            continue
        (old,) = old_parts
        (part,) = loc.parts
        if _same(old, part):
            new[loc.table] = []
            continue
        tail = _appended(old, part)
        if tail is None:
            return None
        new[loc.table] = [tail]
    return Growth(new, earlier, previous)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest kept beside a loaded file, if any."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None

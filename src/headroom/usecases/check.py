"""What ``headroom check`` checks, as findings with file, line and column instead of a first
error: the playbook loads (YAML, settings, conditions), its message templates can be filled,
and the source has the tables its signals need.

The checks are the same functions the command calls; an error stops the checks after it (what
follows an unreadable file cannot be checked), a warning does not.

>>> checked = check(Path("examples/teamflow/playbook.yaml"), source)  # doctest: +SKIP
>>> [(f.severity, f.line, f.message) for f in checked.findings]  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from headroom.errors import HeadroomError
from headroom.messages import load_templates
from headroom.playbook.expressions import Name, Node
from headroom.playbook.model import Playbook, load_playbook
from headroom.signals.registry import missing_tables, types
from headroom.sources import Source
from headroom.yamldoc import load_document

#: ``file:line:column: message`` as the playbook's and templates' errors start.
_WHERE = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<column>\d+): (?P<message>.*)$", re.S)


@dataclass(frozen=True)
class Finding:
    severity: Literal["error", "warning"]
    message: str
    fix: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class Checked:
    """The findings on a playbook file (its loaded form when it loads)."""

    path: Path
    book: Playbook | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def finding(err: HeadroomError, severity: Literal["error", "warning"] = "error") -> Finding:
    """An error as a finding, its ``file:line:column`` taken out of the message."""
    m = _WHERE.match(err.message)
    if m is None:
        return Finding(severity, err.message, err.fix)
    return Finding(severity, m["message"], err.fix, m["file"], int(m["line"]), int(m["column"]))


def _names(node: Node) -> list[Name]:
    found = [node] if isinstance(node, Name) else []
    for child in node.children():
        found.extend(_names(child))
    return [n for n in found if isinstance(n, Name)]


def check(path: Path, source: Source | None = None) -> Checked:
    """Check the playbook at ``path`` (and, with a source, that the source can feed it)."""
    try:
        book = load_playbook(path, types())
        templates = load_templates(book)
    except HeadroomError as err:
        return Checked(path, None, [finding(err)])
    findings: list[Finding] = []
    if templates.folder is None:
        findings.append(
            Finding(
                "warning",
                "no templates/ beside the playbook: plays are recorded without drafts",
                fix="add a templates/ folder with the messages beside the playbook",
                file=path.name,
            )
        )
    if source is not None:
        unfed = missing_tables(source, book.signals())
        if unfed:
            doc = load_document(path)
            for loc, node in book.conditions.items():
                for name in _names(node):
                    if name.name not in unfed:
                        continue
                    # A condition left to its default is not in the file: no place to show.
                    written = loc in doc.positions
                    pos = doc.where(loc)
                    findings.append(
                        Finding(
                            "warning",
                            f"{name.name} has no values from this source: it needs "
                            f"{', '.join(unfed[name.name])}",
                            fix="add those tables to the source, or leave the signal out",
                            file=path.name,
                            line=pos.line if written else None,
                            column=pos.column + pos.quote + name.column - 1 if written else None,
                        )
                    )
    return Checked(path, book, findings)

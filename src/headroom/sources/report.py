"""The validation report: every problem of a source, grouped by kind, with first examples.

A source with 20,000 bad rows gets one group per kind of problem, its count and its first
few rows, not 20,000 lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

#: How many example rows each group keeps.
EXAMPLES_PER_PROBLEM = 5


#: Joins, in a table's label, the files it is read from together (invoices + credit notes).
BESIDE = " + "


def several_files(label: str) -> bool:
    """Whether a table's label names several files (a folder, or files joined by
    :data:`BESIDE`), so that each row says which file it is in."""
    return label.endswith("/") or BESIDE in label


@dataclass(frozen=True)
class Example:
    """One row of a problem: where it is and what is wrong with it."""

    location: str  # "line 12" in a CSV file, "row 12" in Parquet or a database table
    value: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"location": self.location, "value": self.value, "message": self.message}


@dataclass
class Problem:
    """One kind of problem in one table and column, with its count and first examples."""

    severity: Severity
    code: str
    table: str
    file: str
    column: str | None
    count: int
    examples: list[Example] = field(default_factory=list)
    hint: str | None = None  # what a person can do about it
    summary: str | None = None  # a one-line description of the group (warnings)

    def lines(self) -> list[str]:
        """The problem as the lines a person reads: one per example, then how many more."""
        # a folder's examples name their file in it: "usage_daily/" + "2026-12-06.csv, line 4";
        # those of several files ("invoices.csv + credits.csv") name their file alone
        if BESIDE in self.file:
            head = "{loc}"
        else:
            head = self.file + ("" if self.file.endswith("/") else ", ") + "{loc}"
        if self.column:
            head += f", column {self.column}"
        out: list[str] = []
        indent = ""
        if self.summary:
            out.append(f"{self.file}: {self.summary}")
            indent = "  "  # examples under their summary
        for ex in self.examples:
            where = head.format(loc=ex.location) if ex.location else self.file
            out.append(f"{indent}{where}: {ex.message}")
        more = self.count - len(self.examples)
        if more > 0 and self.examples:
            out.append(f"  … and {more:,} more like this ({self.count:,} in all)")
        if self.hint:
            out.append(f"  what to do: {self.hint}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "table": self.table,
            "file": self.file,
            "column": self.column,
            "count": self.count,
            "summary": self.summary,
            "hint": self.hint,
            "examples": [e.to_dict() for e in self.examples],
        }


@dataclass
class TableInfo:
    """What was found for one table of the contract."""

    name: str
    file: str | None
    rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    #: The first day read, for a database table read only from the day a run needs (ISO
    #: date); None: every row was read.
    since: str | None = None
    #: Rows the mapping left out (its ``skip`` and ``keep``), of the ``rows`` read.
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "table": self.name,
            "file": self.file,
            "rows": self.rows,
            "ignored_columns": self.ignored_columns,
        }
        if self.since is not None:  # only a table read from a day on says so
            out["since"] = self.since
        if self.skipped:  # only a table some of whose rows the mapping leaves out
            out["skipped_rows"] = self.skipped
        return out


@dataclass
class Report:
    """Everything validation found, errors and warnings apart."""

    source: str
    tables: dict[str, TableInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    #: The last day the data covers (ISO date; None until loaded, or with no dated rows), and
    #: what says so: "latest date" in the tables, or "data_through" in the mapping.
    data_through: str | None = None
    data_through_from: str | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def error_count(self) -> int:
        return sum(p.count for p in self.errors)

    def warning_count(self) -> int:
        return sum(p.count for p in self.warnings)

    def headline(self) -> str:
        e, w = self.error_count(), self.warning_count()
        if e:
            return (
                f"{self.source}: {e:,} error{'s' * (e != 1)} and {w:,} warning{'s' * (w != 1)}; "
                "nothing was loaded"
            )
        kinds = len(self.warnings)
        if w > kinds:  # many rows behind few kinds of warning: say both
            return (
                f"{self.source}: valid, {kinds:,} kind{'s' * (kinds != 1)} of warning ({w:,} rows)"
            )
        return f"{self.source}: valid, {w:,} warning{'s' * (w != 1)}"

    def error_text(self) -> str:
        """All errors as plain lines: what a failing command prints on stderr."""
        lines = [self.headline()]
        for p in self.errors:
            lines.extend(p.lines())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "valid": self.ok,
            "errors": self.error_count(),
            "warnings": self.warning_count(),
            "tables": [t.to_dict() for t in self.tables.values()],
            "ignored_files": self.ignored_files,
            "problems": [p.to_dict() for p in self.problems],
            "data_through": self.data_through,
            "data_through_from": self.data_through_from,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        report = cls(source=data["source"], ignored_files=list(data["ignored_files"]))
        report.data_through = data.get("data_through")
        report.data_through_from = data.get("data_through_from")
        for t in data["tables"]:
            report.tables[t["table"]] = TableInfo(
                t["table"],
                t["file"],
                t["rows"],
                list(t["ignored_columns"]),
                t.get("since"),
                t.get("skipped_rows", 0),
            )
        for p in data["problems"]:
            report.add(
                Problem(
                    severity=p["severity"],
                    code=p["code"],
                    table=p["table"],
                    file=p["file"],
                    column=p["column"],
                    count=p["count"],
                    examples=[
                        Example(e["location"], e["value"], e["message"]) for e in p["examples"]
                    ],
                    hint=p["hint"],
                    summary=p["summary"],
                )
            )
        return report

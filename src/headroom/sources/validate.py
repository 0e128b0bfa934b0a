"""Checking a source against the contract, in the engine, for all rows at once.

The tables arrive staged in the engine (see :mod:`headroom.sources.readers`): as text, or, for
a typed file's columns whose type already fits, typed. Each check is an ibis expression over a
whole table; the checks of one table's columns are counted in a single pass, and only the
groups with problems fetch their first examples. Nothing here loops over rows in Python, and
nothing holds a table in memory: the engine streams, and spills what does not fit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from headroom.sources.billing import CONTRACT, Billing
from headroom.sources.cells import (
    not_valid_message,
    parsed,
    present,
    quote,
    shown,
    timezones,
    well_formed,
)
from headroom.sources.readers import LINE, PART, RawTable, lookup_column
from headroom.sources.report import EXAMPLES_PER_PROBLEM, Example, Problem, Report, Severity
from headroom.sources.schema import EARLIEST, LATEST, TABLES, Column, Kind, Reference

Row = dict[str, Any]

#: In the row a message is made from: "line" (CSV) or "row" (Parquet, database).
UNIT = "_unit"


def _key_hash(columns: list[ir.Value]) -> ir.IntegerValue:
    """One 64-bit hash of several columns (equal keys, equal hashes; the converse is checked)."""
    h = columns[0].hash()
    for i, c in enumerate(columns[1:], 1):
        h = h ^ (c.hash() >> i)  # shifted, so that swapping two values changes the hash
    return h


@dataclass
class RowCheck:
    """One check of one table: rows where ``bad`` holds are a problem."""

    code: str
    column: str | None
    bad: ir.BooleanValue | None  # None: every row of the base table is a problem
    message: Callable[[Row], str]
    severity: Severity = "error"
    fields: tuple[str, ...] = ()  # extra columns the message needs
    hint: str | None = None
    summary: Callable[[int], str] | None = None
    shown_as: str | None = None  # the column as the file names it, when ``column`` is ours


def _empty_message(col: Column, table: str) -> Callable[[Row], str]:
    return lambda r: f"{col.name} is empty; every {table} row needs one"


def _invalid_message(col: Column) -> Callable[[Row], str]:
    return lambda r: not_valid_message(col, r[col.name])


def _out_of_range_message(col: Column) -> Callable[[Row], str]:
    return lambda r: (
        f"{quote(r[col.name])} is outside the dates headroom reads ({EARLIEST} to {LATEST}); "
        f"check the export: {col.name} is a real day of the business"
    )


def _negative_message(col: Column) -> Callable[[Row], str]:
    return lambda r: f"{quote(r[col.name])} is negative; {col.describe_valid()}"


def _future_message(column: str, today: dt.date) -> Callable[[Row], str]:
    return lambda r: f"{quote(r[column])} is after today ({today})"


def plural(n: int, one: str, many: str) -> str:
    """``1 row has`` / ``2 rows have``: a count with the words that agree with it."""
    return f"{n:,} {one if n == 1 else many}"


def _count_message(one: str, many: str, subject: str) -> Callable[[int], str]:
    return lambda n: plural(n, one.format(subject), many.format(subject))


def _reference_message(ref: Reference, target: str, *, kept: bool) -> Callable[[Row], str]:
    if kept:
        return lambda r: (
            f"{quote(r[ref.column])} is not in {target}; the row is kept but no account will use it"
        )
    return lambda r: (
        f"{quote(r[ref.column])} is not in {target}; add the {ref.target_column} to "
        f"{ref.table} or fix this row"
    )


class Validator:
    """Runs every check of a source's tables on one DuckDB connection."""

    def __init__(
        self, con: Any, report: Report, today: dt.date, carried: Report | None = None
    ) -> None:
        self.con = con
        self.report = report
        self.today = today
        #: Problems of the rows loaded before (an incremental load): counted together with the
        #: new rows' problems of the same kind, examples in file order.
        self.carried = {
            (p.severity, p.code, p.table, p.column): p
            for p in (carried.problems if carried else [])
        }
        #: Rows of a table in all, where more were loaded before than are checked now.
        self.totals: dict[str, int] = {}
        self.raw: dict[str, RawTable] = {}
        self.tables: dict[str, ir.Table] = {}
        self.combine: dict[str, str] = {}  # table -> how repeated keys are combined
        #: How the subscriptions are written (inclusive ends, amounts per period).
        self.billing: Billing = CONTRACT
        #: The currency reports are in, when the mapping names it.
        self.currency: str | None = None
        #: The currency subscriptions are converted into as they are stored (None: as they
        #: are), settled by :func:`headroom.sources.rules.currency_checks`.
        self.reporting_currency: str | None = None
        #: The tables a mapping reads from an export of another shape.
        self.mapped: set[str] = set()
        self._zones: ir.Table | None = None

    def zones(self, col: Column) -> ir.StringColumn | None:
        """The IANA time zone names as a table on the engine, for a time zone column."""
        if col.kind != Kind.TIMEZONE:
            return None
        if self._zones is None:
            names = pa.table({"name": pa.array(sorted(timezones()), pa.string())})
            self._zones = self.con.create_table("_timezones", names, temp=True, overwrite=True)
        return self._zones.name

    # -- registration ----------------------------------------------------------------------

    def register(self, raw: RawTable) -> None:
        self.raw[raw.name] = raw
        self.tables[raw.name] = self.con.table(raw.relation)

    def order(self, name: str, t: ir.Table | None = None) -> ir.IntegerValue:
        """Each row's place in the files: by file of a folder, then by line."""
        t = self.tables[name] if t is None else t
        if self.raw[name].parts:
            return t[PART].cast("int64") * (1 << 40) + t[LINE]
        return t[LINE]

    def where(self, name: str, order: int) -> str:
        """A row's place (as :meth:`order` gives it) as messages say it."""
        raw = self.raw[name]
        if raw.parts:
            return raw.where(order % (1 << 40), order >> 40)
        return raw.where(order)

    def _emit(
        self,
        raw: RawTable,
        check: RowCheck,
        count: int,
        rows: list[Row],
    ) -> None:
        rows = [{k: shown(v) for k, v in row.items()} for row in rows]
        examples = [
            Example(
                self._location(raw, row),
                None if check.column is None else row.get(check.column),
                check.message({**row, UNIT: raw.unit}),
            )
            for row in rows
        ]
        old = self.carried.pop(
            (check.severity, check.code, raw.name, check.shown_as or check.column), None
        )
        if old is not None:  # rows loaded before come first in the files
            count += old.count
            examples = [*old.examples, *examples][:EXAMPLES_PER_PROBLEM]
        self.report.add(
            Problem(
                check.severity,
                check.code,
                raw.name,
                raw.label,
                check.shown_as or check.column,
                count,
                examples,
                hint=check.hint,
                summary=check.summary(count) if check.summary else None,
            )
        )

    @staticmethod
    def _location(raw: RawTable, row: Row) -> str:
        """``line 12``; for a database table ``row 12 (subscription_id 's12')``; in a folder of
        files ``2026-12-06.csv, line 12``."""
        where = raw.where(row[LINE], row.get(PART))
        key = [k for k in TABLES[raw.name].key if k in row]
        if raw.key_in_location and key:
            where += " (" + ", ".join(f"{k} {quote(row[k])}" for k in key) + ")"
        return where

    def run_checks(self, name: str, checks: list[RowCheck], base: ir.Table | None = None) -> None:
        """Count all checks of a table in one pass; fetch examples where a count is not 0."""
        if not checks:
            return
        t = self.tables[name] if base is None else base
        bads = [t[LINE].notnull() if c.bad is None else c.bad.fill_null(False) for c in checks]
        counts = t.aggregate(
            **{f"c{i}": bad.cast("int64").sum() for i, bad in enumerate(bads)}
        ).to_pyarrow()
        raw = self.raw[name]
        for i, check in enumerate(checks):
            count = counts[f"c{i}"][0].as_py() or 0
            if count == 0:
                key = (check.severity, check.code, name, check.shown_as or check.column)
                if key in self.carried and check.summary is not None:
                    self._emit(raw, check, 0, [])  # told again with the new totals
                continue
            cols = [LINE, *([check.column] if check.column else []), *check.fields]
            if raw.parts and PART in t.columns:
                cols.insert(0, PART)
            if raw.key_in_location:
                cols += [k for k in TABLES[name].key if k in t.columns]
            cols = list(dict.fromkeys(cols))
            rows = (
                t.filter(bads[i])
                .select(*cols)
                .order_by(cols)  # file order; ties (pairs of one line) in a fixed order too
                .limit(EXAMPLES_PER_PROBLEM)
                .to_pyarrow()
                .to_pylist()
            )
            self._emit(raw, check, count, rows)

    # -- lookups ---------------------------------------------------------------------------

    def apply_lookup(self, name: str, ours: str, target: str, on: str) -> None:
        """Fill ``ours`` from ``target`` joined on ``on`` (a mapping's lookup).

        A row whose ``on`` value the target lacks gets NULL, reported here once (and not again
        as an empty value).
        """
        key = lookup_column(ours)
        t = self.tables[name]
        missing = None
        if target not in self.tables:
            missing = f"{ours} is looked up in {target}, which the source lacks"
        else:
            lacks = [c for c in (on, ours) if c not in self.tables[target].columns]
            if lacks:
                missing = (
                    f"{ours} is looked up in {target} by {on}, but {target} has no column "
                    f"{' or '.join(dict.fromkeys(lacks))}"
                )
        if missing is not None:
            self.report.add(
                Problem(
                    "error",
                    "lookup_impossible",
                    name,
                    self.raw[name].label,
                    ours,
                    1,
                    [Example("", None, missing)],
                )
            )
            self.tables[name] = t.drop(key).mutate(**{ours: ibis.null("string")})
            return
        other = self.tables[target]
        pairs = other.group_by(on).aggregate(_found=other[ours].min())
        joined = t.left_join(pairs, t[key] == pairs[on]).select(
            *[c for c in t.columns if c != key],
            **{ours: ibis._["_found"], key: t[key]},
        )
        self.run_checks(
            name,
            [
                RowCheck(
                    "lookup_failed",
                    key,
                    joined[ours].isnull(),
                    lambda r: (
                        f"{quote(r[key])} is not in {target}, so the row's {ours} cannot be "
                        f"looked up; add the {on} to {target} or remove this row"
                    ),
                    shown_as=on,
                )
            ],
            base=joined,
        )
        self.tables[name] = self.con.create_table(
            f"looked_up_{name}", joined.drop(key), temp=True, overwrite=True
        )

    # -- column checks ---------------------------------------------------------------------

    def column_checks(self, name: str) -> None:
        spec = TABLES[name]
        t = self.tables[name]
        checks: list[RowCheck] = []
        columns = set(t.columns)
        for col in spec.columns:
            if col.name not in columns:
                continue
            s = t[col.name]
            if not col.nullable:
                checks.append(
                    RowCheck("empty_value", col.name, ~present(s), _empty_message(col, name))
                )
            if col.kind != Kind.TEXT:
                checks.append(
                    RowCheck(
                        f"bad_{col.kind.value}",
                        col.name,
                        present(s) & ~well_formed(col, s, self.zones(col)),
                        _invalid_message(col),
                    )
                )
            if col.kind in (Kind.DATE, Kind.TIMESTAMP):
                day = parsed(col, s)
                day = day.date() if col.kind == Kind.TIMESTAMP else day
                checks.append(
                    RowCheck(
                        "out_of_range",
                        col.name,
                        well_formed(col, s, None) & ~day.between(EARLIEST, LATEST),
                        _out_of_range_message(col),
                    )
                )
            # a credit note is a negative amount over its period
            credit = name == "subscriptions" and col.name == "mrr" and self.billing.per_period
            if col.minimum is not None and not credit:
                checks.append(
                    RowCheck(
                        "negative",
                        col.name,
                        well_formed(col, s, self.zones(col)) & (parsed(col, s) < col.minimum),
                        _negative_message(col),
                        hint=(
                            "a negative amount is a credit note: if these rows are invoices, "
                            "add amounts: per_period under tables: subscriptions in the "
                            "source's mapping"
                            # an export mapped onto subscriptions may be invoices
                            if name == "subscriptions" and col.name == "mrr" and name in self.mapped
                            else None
                        ),
                    )
                )
        for col_name in spec.date_columns_for_future_check:
            if col_name not in columns:
                continue
            col = spec.column(col_name)
            value = parsed(col, t[col_name])
            if col.kind == Kind.TIMESTAMP:
                value = value.date()
            checks.append(
                RowCheck(
                    "future_date",
                    col_name,
                    well_formed(col, t[col_name]) & (value > self.today),
                    _future_message(col_name, self.today),
                    severity="warning",
                    summary=_count_message(
                        "row has a {} after today", "rows have a {} after today", col_name
                    ),
                    hint=(
                        "check the export's clock and time zone; a run as of an earlier day "
                        "never reads them"
                    ),
                )
            )
        self.run_checks(name, checks)

    # -- keys and references ---------------------------------------------------------------

    def key_checks(self, name: str) -> None:
        spec = TABLES[name]
        if not spec.key:
            return
        t = self.tables[name]
        key = list(spec.key)
        # Repeats are found by grouping, not by a window over every row: a window partitions
        # and keeps the whole table, a grouping keeps one row per key and spills the rest.
        rows = t.mutate(_order=self.order(name)).filter(ibis.and_(*[present(t[k]) for k in key]))
        # Rows sharing a hash of their key are the only candidates; grouping 100 million
        # hashes costs a fraction of grouping their text keys, and repeats are rare.
        hashed = rows.mutate(_h=_key_hash([rows[k] for k in key]))
        clashes = hashed.group_by("_h").aggregate(_n=hashed.count()).filter(ibis._["_n"] > 1)
        # Stored first: a query naming ``hashed`` twice has the engine keep every row of it.
        clashes = self.con.create_table(
            f"_clashes_{name}", clashes.select("_h"), temp=True, overwrite=True
        )
        rows = hashed.semi_join(clashes, "_h").drop("_h")
        groups = (
            rows.group_by(key)
            .aggregate(_n=rows.count(), _first=rows._order.min())
            .filter(ibis._["_n"] > 1)
        )
        marked = rows.join(groups, key).select(*rows.columns, "_first")
        repeat = marked._order != marked._first
        check = self._repeat_check(name, repeat, lambda r: self.where(name, r["_first"]), "_first")
        self.run_checks(name, [check], base=marked)

    def _repeat_check(
        self,
        name: str,
        bad: ir.BooleanValue | None,
        repeats: Callable[[Row], str],
        *fields: str,
    ) -> RowCheck:
        """The check of rows that repeat another row's key; ``repeats(row)`` names the other
        (``line 4``, ``a row loaded before``), from the key and ``fields``."""
        key = list(TABLES[name].key)
        label = key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"

        def describe(r: Row) -> str:
            return ", ".join(f"{k} {quote(r[k])}" for k in key)

        combine = self.combine.get(name, "reject")
        if name == "events":
            return RowCheck(
                "repeated_event",
                key[0],
                bad,
                lambda r: f"{describe(r)} repeats {repeats(r)}; kept once",
                severity="warning",
                fields=fields,
                summary=lambda n: plural(n, "row repeats", "rows repeat") + " an earlier event_id",
                hint=(
                    "a repeated event_id is the same event (ingest is idempotent); "
                    "the first is kept"
                ),
            )
        if combine != "reject":
            return RowCheck(
                "combined_rows",
                None,
                bad,
                lambda r: f"{describe(r)} repeats {repeats(r)}; combined ({combine})",
                severity="warning",
                fields=(*key, *fields),
                summary=lambda n: plural(n, "row repeats", "rows repeat") + f" an earlier {label}",
                hint=f"the mapping says combine: {combine}",
            )
        return RowCheck(
            "duplicate_key",
            key[0] if len(key) == 1 else None,
            bad,
            lambda r: f"{describe(r)} repeats {repeats(r)}; {label} must be unique",
            fields=(*key, *fields),
        )

    def repeats_of_loaded(self, name: str, loaded: ir.Table) -> None:
        """New rows whose key a row loaded before already has (an incremental load)."""
        spec = TABLES[name]
        t = self.tables[name]
        key = list(spec.key)
        rows = t.filter(ibis.and_(*[present(t[k]) for k in key])).mutate(
            **{f"_k_{k}": parsed(spec.column(k), t[k]).cast(loaded[k].type()) for k in key}
        )
        old = loaded.select(*[loaded[k].name(f"_k_{k}") for k in key])
        if "date" in key:  # loaded usage is stored by date: only the new days' blocks are read
            days = rows.aggregate(lo=rows._k_date.min(), hi=rows._k_date.max()).to_pyarrow()
            lo, hi = days["lo"][0].as_py(), days["hi"][0].as_py()
            if lo is None:
                return
            old = old.filter(old._k_date.between(lo, hi))
        again = rows.semi_join(old, [f"_k_{k}" for k in key])
        before = "an event loaded before" if name == "events" else "a row loaded before"
        check = self._repeat_check(name, None, lambda r: before)
        self.run_checks(name, [check], base=again)

    def carry_the_rest(self) -> None:
        """Problems of the rows loaded before that no new row shares, as they were."""
        for problem in self.carried.values():
            self.report.add(problem)
        self.carried.clear()

    def reference_checks(self, name: str) -> None:
        spec = TABLES[name]
        t = self.tables[name]
        for ref in spec.references:
            if ref.column not in t.columns or ref.table not in self.tables:
                continue
            target = self.tables[ref.table]
            known = target.select(_k=target[ref.target_column]).distinct()
            marked = t.left_join(known, t[ref.column] == known["_k"]).select(
                *t.columns, _missing=known["_k"].isnull()
            )
            target_label = self.raw[ref.table].label
            if ref.severity == "error":
                check = RowCheck(
                    "unknown_reference",
                    ref.column,
                    present(marked[ref.column]) & marked["_missing"],
                    _reference_message(ref, target_label, kept=False),
                )
            else:
                check = RowCheck(
                    "unknown_account",
                    ref.column,
                    present(marked[ref.column]) & marked["_missing"],
                    _reference_message(ref, target_label, kept=True),
                    severity="warning",
                    summary=_count_message(
                        "row names an account not in {}",
                        "rows name an account not in {}",
                        target_label,
                    ),
                    hint="add the accounts, or fix the ids if they are spelled differently",
                )
            self.run_checks(name, [check], base=marked)

    # -- cross-table checks ----------------------------------------------------------------

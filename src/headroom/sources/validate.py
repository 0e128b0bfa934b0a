"""Checking a source against the contract, in the engine, for all rows at once.

The tables arrive staged in the engine (see :mod:`headroom.sources.readers`): as text, or, for
a typed file's columns whose type already fits, typed. Each check is an ibis expression over a
whole table; the checks of one table's columns are counted in a single pass, and only the
groups with problems fetch their first examples. Nothing here loops over rows in Python, and
nothing holds a table in memory: the engine streams, and spills what does not fit.
"""

from __future__ import annotations

import datetime as dt
import difflib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from headroom.sources.readers import LINE, PART, RawTable, lookup_column
from headroom.sources.report import EXAMPLES_PER_PROBLEM, Example, Problem, Report, Severity
from headroom.sources.schema import EARLIEST, LATEST, TABLES, Column, Kind, Reference

Row = dict[str, Any]

#: In the row a message is made from: "line" (CSV) or "row" (Parquet, database).
UNIT = "_unit"

_DECIMAL_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
_INTEGER_RE = r"^[+-]?[0-9]+$"
_NUMBER_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TIMESTAMP_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
)
_FAR_FUTURE = dt.date(9999, 12, 31)


@ibis.udf.scalar.builtin  # type: ignore[untyped-decorator]
def json_valid(value: str) -> bool:
    """DuckDB's json_valid: true when the text parses as JSON (runs in the engine, not here)."""
    raise NotImplementedError("json_valid is evaluated by DuckDB")


@cache
def timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def quote(value: Any) -> str:
    """A value as it appears in messages: quoted, and cut when long."""
    text = str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text)


def is_text(s: ir.Value) -> bool:
    """Whether a staged column holds text (a CSV value, or a typed one that did not fit)."""
    return bool(s.type().is_string())


def present(s: ir.Value) -> ir.BooleanValue:
    """True where a staged value is not empty (text: not ''; typed: not NULL)."""
    return s != "" if is_text(s) else s.notnull()


def _typed_parsed(col: Column, s: ir.Value) -> ir.Value:
    """The value of a typed column as its kind: NULL where it does not fit (a fraction for a
    whole number, a number beyond DECIMAL(18, 4))."""
    match col.kind:
        case Kind.DECIMAL:
            return s.try_cast("decimal(18, 4)")
        case Kind.INTEGER:
            if s.type().is_integer():
                return s.cast("int64")
            whole = s.notnull() & (s == s.floor())
            return ibis.ifelse(whole, s.try_cast("int64"), ibis.null("int64"))
        case Kind.NUMBER:
            return s.cast("float64")
        case Kind.DATE:
            return s.cast("date")
        case Kind.TIMESTAMP:
            return s.cast("timestamp('UTC')")
        case _:
            return s


def _typed_well_formed(col: Column, s: ir.Value) -> ir.BooleanValue:
    value = _typed_parsed(col, s)
    finite = (~s.isnan() & ~s.isinf()) if s.type().is_floating() else ibis.literal(True)
    if col.kind in (Kind.DECIMAL, Kind.INTEGER):
        return value.notnull() & finite
    if col.kind == Kind.NUMBER:
        return finite
    return ibis.literal(True)


def parsed(col: Column, s: ir.StringValue) -> ir.Value:
    """The typed value of a staged column, NULL where it does not parse or is empty."""
    if not is_text(s):
        return _typed_parsed(col, s)
    nonempty = s.nullif("")
    match col.kind:
        case Kind.DECIMAL:
            return nonempty.try_cast("decimal(18, 4)")
        case Kind.INTEGER:
            return nonempty.try_cast("int64")
        case Kind.NUMBER:
            return nonempty.try_cast("float64")
        case Kind.DATE:
            return nonempty.try_cast("date")
        case Kind.TIMESTAMP:
            return nonempty.try_cast("timestamp('UTC')")
        case _:
            return nonempty


def _well_formed(
    col: Column, s: ir.StringValue, zones: ir.StringColumn | None = None
) -> ir.BooleanValue:
    """True where a non-empty value has the right form for its kind.

    ``zones`` is a column of the IANA names on the engine (a subquery compiles far faster
    than a list of some 600 literals); without it the names are inlined.
    """
    if not is_text(s):
        return _typed_well_formed(col, s)
    match col.kind:
        case Kind.DECIMAL:
            return s.re_search(_DECIMAL_RE) & parsed(col, s).notnull()
        case Kind.INTEGER:
            return s.re_search(_INTEGER_RE) & parsed(col, s).notnull()
        case Kind.NUMBER:
            value = parsed(col, s)
            return s.re_search(_NUMBER_RE) & value.notnull() & ~value.isinf()
        case Kind.DATE:
            return s.re_search(_DATE_RE) & parsed(col, s).notnull()
        case Kind.TIMESTAMP:
            return s.re_search(_TIMESTAMP_RE) & parsed(col, s).notnull()
        case Kind.JSON_OBJECT:
            return s.lstrip().startswith("{") & json_valid(s)
        case Kind.TIMEZONE:
            return s.isin(sorted(timezones()) if zones is None else zones)
        case Kind.CHOICE:
            return s.isin(list(col.choices))
        case Kind.TEXT:
            return ibis.literal(True)


def _key_hash(columns: list[ir.Value]) -> ir.IntegerValue:
    """One 64-bit hash of several columns (equal keys, equal hashes; the converse is checked)."""
    h = columns[0].hash()
    for i, c in enumerate(columns[1:], 1):
        h = h ^ (c.hash() >> i)  # shifted, so that swapping two values changes the hash
    return h


def shown(value: Any) -> Any:
    """A typed value as the text a file would hold (numbers as Arrow writes them), for messages;
    text and whole numbers (lines) as they are."""
    if value is None or isinstance(value, str | int):
        return "" if value is None else value
    if isinstance(value, float):
        return pa.array([value]).cast(pa.string())[0].as_py()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _not_valid_message(col: Column, value: str) -> str:
    match col.kind:
        case Kind.DECIMAL:
            what = "a decimal number"
        case Kind.INTEGER:
            what = "a whole number"
        case Kind.NUMBER:
            what = "a number"
        case Kind.DATE:
            what = "a valid date"
        case Kind.TIMESTAMP:
            what = "a timestamp with an offset"
        case Kind.JSON_OBJECT:
            what = "a JSON object"
        case Kind.TIMEZONE:
            close = difflib.get_close_matches(value, sorted(timezones()), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return f"{quote(value)} is not an IANA time zone{hint}; {col.describe_valid()}"
        case Kind.CHOICE:
            close = difflib.get_close_matches(value.lower(), list(col.choices), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return f"{quote(value)} is not a valid {col.name}{hint}; {col.describe_valid()}"
        case Kind.TEXT:
            what = "text"
    return f"{quote(value)} is not {what}; {col.describe_valid()}"


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
    return lambda r: _not_valid_message(col, r[col.name])


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
                        present(s) & ~_well_formed(col, s, self.zones(col)),
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
                        _well_formed(col, s, None) & ~day.between(EARLIEST, LATEST),
                        _out_of_range_message(col),
                    )
                )
            if col.minimum is not None:
                checks.append(
                    RowCheck(
                        "negative",
                        col.name,
                        _well_formed(col, s, self.zones(col)) & (parsed(col, s) < col.minimum),
                        _negative_message(col),
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
                    _well_formed(col, t[col_name]) & (value > self.today),
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

    def subscription_checks(self) -> None:
        if "subscriptions" not in self.tables:
            return
        spec = TABLES["subscriptions"]
        t = self.tables["subscriptions"]
        start = parsed(spec.column("start_date"), t.start_date)
        if "end_date" not in t.columns:
            return
        end = parsed(spec.column("end_date"), t.end_date)
        self.run_checks(
            "subscriptions",
            [
                RowCheck(
                    "end_before_start",
                    "end_date",
                    end < start,
                    lambda r: (
                        f"{quote(r['end_date'])} is before start_date {quote(r['start_date'])}; "
                        "end_date is the first day the period is no longer in force, "
                        "after start_date"
                    ),
                    fields=("start_date",),
                ),
                RowCheck(
                    "empty_period",
                    "end_date",
                    end == start,
                    lambda r: (
                        f"{quote(r['end_date'])} equals start_date, so the period is in force on "
                        "no day; it adds no MRR"
                    ),
                    severity="warning",
                    summary=lambda n: plural(
                        n,
                        "subscription row ends on the day it starts",
                        "subscription rows end on the day they start",
                    ),
                    hint="end_date is exclusive: a one-day period ends the day after it starts",
                ),
            ],
        )

    def overlap_checks(self) -> None:
        if "subscriptions" not in self.tables:
            return
        spec = TABLES["subscriptions"]
        t = self.tables["subscriptions"]
        # Without an end_date column every row runs on: they all overlap one another.
        end = (
            parsed(spec.column("end_date"), t.end_date).fill_null(_FAR_FUTURE)
            if "end_date" in t.columns
            else ibis.literal(_FAR_FUTURE)
        )
        periods = t.select(
            t.account_id,
            t.subscription_id,
            t[LINE],
            _start=parsed(spec.column("start_date"), t.start_date),
            _end=end,
        ).filter(ibis._["_start"].notnull() & (ibis._["_end"] > ibis._["_start"]))
        a = periods
        b = periods.view()
        pairs = a.join(
            b,
            [
                a.account_id == b.account_id,
                a[LINE] < b[LINE],
                a._start < b._end,
                b._start < a._end,
            ],
        ).select(
            account_id=a.account_id,
            subscription_id=b.subscription_id,
            _line=b[LINE],
            _other=a.subscription_id,
            _other_line=a[LINE],
        )

        def accounts() -> int:  # asked only when some pair overlaps
            return int(pairs.account_id.nunique().to_pyarrow().as_py())

        self.run_checks(
            "subscriptions",
            [
                RowCheck(
                    "overlapping_subscriptions",
                    "subscription_id",
                    None,
                    lambda r: (
                        f"subscription {quote(r['subscription_id'])} of account "
                        f"{quote(r['account_id'])} overlaps subscription "
                        f"{quote(r['_other'])} of {r[UNIT]} "
                        f"{r['_other_line']}; their MRR is summed while both run"
                    ),
                    severity="warning",
                    fields=("account_id", "_other_line", "_other"),
                    summary=lambda n: (
                        plural(
                            n,
                            "pair of subscription rows overlaps",
                            "pairs of subscription rows overlap",
                        )
                        + ", in "
                        + plural(accounts(), "account", "accounts")
                    ),
                    hint=(
                        "when a new row replaces an old one (an upgrade, a renewal), end the old "
                        "row on the new row's start_date; rows that really run side by side "
                        "(add-ons) can stay"
                    ),
                )
            ],
            base=pairs,
        )

    def usage_outside_checks(self) -> None:
        if "usage_daily" not in self.tables or "subscriptions" not in self.tables:
            return
        subs = self.tables["subscriptions"]
        sspec = TABLES["subscriptions"]
        periods = subs.select(
            _acc=subs.account_id,
            _start=parsed(sspec.column("start_date"), subs.start_date),
            _end=(
                parsed(sspec.column("end_date"), subs.end_date)
                if "end_date" in subs.columns
                else ibis.null("date")
            ).fill_null(_FAR_FUTURE),
        )
        u = self.tables["usage_daily"]
        day = parsed(TABLES["usage_daily"].column("date"), u.date)
        usage = u.mutate(_day=day).filter(ibis._["_day"].notnull())
        # one anti join, its range conditions checked beside the account match
        outside = usage.anti_join(
            periods,
            [
                usage.account_id == periods._acc,
                usage._day >= periods._start,
                usage._day < periods._end,
            ],
        )
        if "accounts" in self.tables:  # unknown accounts are reported on their own
            known = self.tables["accounts"].select(_a=self.tables["accounts"].account_id)
            outside = outside.semi_join(known, outside.account_id == known._a)
        outside = outside.select(
            "account_id", "date", "metric", LINE, *([PART] if PART in outside.columns else [])
        )
        total = self.totals.get("usage_daily", self.raw["usage_daily"].rows)
        self.run_checks(
            "usage_daily",
            [
                RowCheck(
                    "usage_outside_subscription",
                    None,
                    None,
                    lambda r: (
                        f"account {quote(r['account_id'])}, {r['metric']} on {r['date']}: "
                        "no subscription of this account is in force that day"
                    ),
                    severity="warning",
                    fields=("account_id", "date", "metric"),
                    summary=lambda n: (
                        f"{n:,} of {plural(total, 'usage row', 'usage rows')} "
                        f"({n / max(total, 1):.0%}) {'falls' if n == 1 else 'fall'} outside "
                        "every subscription period of their account"
                    ),
                    hint=(
                        "usage outside paid periods is kept for signals but earns no MRR; if the "
                        "account was paying then, fix the subscription dates"
                    ),
                )
            ],
            base=outside,
        )

    def accounts_without_subscriptions(self) -> None:
        if "accounts" not in self.tables or "subscriptions" not in self.tables:
            return
        a = self.tables["accounts"]
        s = self.tables["subscriptions"].select(_acc=self.tables["subscriptions"].account_id)
        lonely = a.anti_join(s, a.account_id == s._acc)
        self.run_checks(
            "accounts",
            [
                RowCheck(
                    "account_without_subscription",
                    "account_id",
                    None,
                    lambda r: f"{quote(r['account_id'])} has no subscription rows",
                    severity="warning",
                    summary=lambda n: (
                        plural(n, "account has", "accounts have") + " no subscription rows"
                    ),
                    hint=(
                        "prospects and trials without a priced period earn no MRR; that may be fine"
                    ),
                )
            ],
            base=lonely.filter(lonely.account_id != ""),
        )

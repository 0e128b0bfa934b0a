"""An export read as its vendor writes it: the rows a mapping leaves out, dates written as
timestamps or Unix times, amounts in cents, credit notes in a file of their own.

A mapping says how (``sources/config.py``)::

    tables:
      subscriptions:
        from: invoice_line_items.csv
        credits: credit_note_line_items.csv    # amounts written positive: they count negative
        read: {start_date: unix, end_date: unix, mrr: minor_units}
        skip: {type: [invoiceitem]}            # a column of the file: the values left out

Each form is turned into the text the contract's checks read (``2024-01-15``, ``49.00``), in
the engine for every row, before any other check; a value not written in its declared form is
reported with the form it was read as, and not checked again. The forms:

``timestamp``
    a date with its time and zone, if any (``2024-01-15 10:23:45 PST``,
    ``2024-01-15T10:23:45Z``): the day is the date as written, the zone's own.
``unix``
    whole seconds since 1970-01-01 UTC (``1705314225``): the day (or the time) in UTC.
``minor_units``
    a whole number of the currency's smallest unit (``4900`` is 49.00 dollars; yen have none,
    so ``4900`` yen is 4900; dinars have three). The row's ``currency``, else the source's
    ``currency:``, says which; without either, cents.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from headroom.sources.cells import is_text, present, quote
from headroom.sources.config import TableMapping
from headroom.sources.currency import code
from headroom.sources.readers import PART, WHERE, staged_as
from headroom.sources.schema import EARLIEST, LATEST, TABLES, Kind
from headroom.sources.validate import Row, RowCheck, Validator

#: ISO 4217 currencies whose smallest unit is not a hundredth: none (yen), or a thousandth.
NO_MINOR_UNIT = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"]
NO_MINOR_UNIT += ["RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"]
THOUSANDTHS = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]

_TIMESTAMP_FORM = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
    r"( ?(Z|[+-][0-9]{2}(:?[0-9]{2})?|[A-Za-z][A-Za-z0-9_/+-]*))?$"
)
_WHOLE = r"^[+-]?[0-9]{1,15}$"
_DAY = 86_400
#: The Unix times of the first and the last day headroom reads.
_FIRST = (EARLIEST.toordinal() - 719_163) * _DAY
_LAST = (LATEST.toordinal() - 719_163 + 1) * _DAY - 1

_HOW = {
    "timestamp": "as a timestamp (2024-01-15 or 2024-01-15 10:23:45 PST: the date as written)",
    "unix": "as a Unix time (whole seconds since 1970-01-01 UTC, such as 1705314225)",
    "minor_units": "in minor units (a whole number: 4900 cents for 49.00)",
}
_NOT = {
    "timestamp": "a date or a timestamp",
    "unix": "a Unix time between 1900 and 2199",
    "minor_units": "a whole number of minor units",
}


def read_as_written(v: Validator, name: str, mapping: TableMapping) -> None:
    """Turn ``name``'s staged rows into the contract's forms, as ``mapping`` reads them."""
    if not (mapping.read or mapping.filters or mapping.credits):
        return
    t = v.tables[name]
    if mapping.filters:
        t = _chosen(v, name, t, mapping)
    checks = []
    for ours, form in mapping.read.items():
        if ours not in t.columns:
            continue
        s = _text(t[ours])
        ok = _well_formed(form, s)
        checks.append(
            RowCheck(
                f"bad_{form}",
                ours,
                present(s) & ~ok,
                _message(ours, form),
                hint=(
                    f"fix the value, or read {ours} in its own form "
                    f"(read: {{{ours}: timestamp|unix|minor_units}}, or no read)"
                ),
                shown_as=mapping.columns.get(ours),
            )
        )
    v.tables[name] = t
    v.run_checks(name, checks)
    for check in checks:  # told once: not checked again as a date or a number
        assert check.bad is not None
        t = t.filter(~check.bad.fill_null(False))
    forms: dict[str, ir.Value] = {}
    for ours, form in mapping.read.items():
        if ours in t.columns:
            forms[ours] = _converted(v, t, TABLES[name].column(ours).kind, ours, form)
    if forms:
        t = t.mutate(**forms)
    if mapping.credits is not None and "mrr" in t.columns:
        # credit notes are the table's second file: their amounts count against it
        t = t.mutate(mrr=_negated(t.mrr, t[PART] == 1))
    v.tables[name] = t


def _chosen(v: Validator, name: str, t: ir.Table, mapping: TableMapping) -> ir.Table:
    """Only the rows ``skip`` and ``keep`` read; how many were left out goes in the report."""
    chosen: ir.BooleanValue = ibis.literal(True)
    for theirs, values in mapping.keep.items():
        chosen &= _text(t[_staged(name, mapping, theirs)]).isin(values).fill_null(False)
    for theirs, values in mapping.skip.items():
        chosen &= ~_text(t[_staged(name, mapping, theirs)]).isin(values).fill_null(False)
    left_out = t.aggregate(n=(~chosen).cast("int64").sum()).to_pyarrow()["n"][0].as_py() or 0
    if name in v.report.tables:
        v.report.tables[name].skipped += left_out
    only = [c for c in t.columns if not c.startswith(WHERE)]
    return t.filter(chosen).select(*only)


def _staged(name: str, mapping: TableMapping, theirs: str) -> str:
    staged = staged_as(name, mapping, theirs)
    assert staged is not None  # a filter's column is always staged (readers.staged_as)
    return staged


def _text(s: ir.Value) -> ir.StringValue:
    """A staged value as the text a file holds (a typed file's values cast)."""
    text: ir.StringValue = s if is_text(s) else s.cast("string").fill_null("")
    return text


def _seconds(s: ir.StringValue) -> ir.IntegerValue:
    seconds: ir.IntegerValue = s.nullif("").try_cast("int64")
    return seconds


def _well_formed(form: str, s: ir.StringValue) -> ir.BooleanValue:
    if form == "timestamp":
        day = s.substr(0, 10).try_cast("date")
        return s.re_search(_TIMESTAMP_FORM) & day.between(EARLIEST, LATEST).fill_null(False)
    whole = s.re_search(_WHOLE)
    if form == "unix":
        return whole & _seconds(s).between(_FIRST, _LAST).fill_null(False)
    return whole & _seconds(s).notnull()


def _message(ours: str, form: str) -> Callable[[Row], str]:
    return lambda r: f"{quote(r[ours])} is not {_NOT[form]}; the mapping reads {ours} {_HOW[form]}"


def _converted(v: Validator, t: ir.Table, kind: Kind, ours: str, form: str) -> ir.Value:
    """``ours`` as the contract writes it (text), from its declared ``form``."""
    s = _text(t[ours])
    if form == "timestamp":
        return ibis.ifelse(present(s), s.substr(0, 10), "")
    # the rows whose value is not in its form are left out already; an engine may still
    # compute this for them before it filters, and a time past 2199 overflows an interval
    seconds = ibis.ifelse(present(s) & _well_formed(form, s), _seconds(s), 0)
    if form == "unix":
        return ibis.ifelse(present(s), unix_text(seconds, kind), "")
    return ibis.ifelse(present(s), in_major_units(seconds, _minor_units(v, t)), "")


def unix_text(seconds: ir.IntegerValue, kind: Kind) -> ir.StringValue:
    """A Unix time as the contract writes a date (``2024-01-15``, its day in UTC) or a time
    (``2024-01-15T10:23:45Z``).

    >>> t = ibis.memtable({"s": [1705314225, -1]})
    >>> ibis.duckdb.connect().to_pyarrow(unix_text(t.s, Kind.TIMESTAMP)).to_pylist()
    ['2024-01-15T10:23:45Z', '1969-12-31T23:59:59Z']
    """
    moment = ibis.timestamp("1970-01-01 00:00:00") + seconds.as_interval("s")
    text: ir.StringValue = moment.strftime(
        "%Y-%m-%d" if kind == Kind.DATE else "%Y-%m-%dT%H:%M:%SZ"
    )
    return text


def _minor_units(v: Validator, t: ir.Table) -> ir.IntegerValue:
    """How many minor units make one unit of each row's currency (100 unless told)."""
    if "currency" in t.columns:
        currency = code(_text(t.currency))
        if v.currency:
            currency = currency.fill_null(v.currency)
    elif v.currency:
        currency = ibis.literal(v.currency)
    else:
        return ibis.literal(100)
    result: ir.IntegerValue = (
        ibis.cases(
            (currency.isin(NO_MINOR_UNIT), 1),
            (currency.isin(THOUSANDTHS), 1000),
            else_=100,
        )
    ).cast("int64")
    return result


def in_major_units(amount: ir.IntegerValue, per_unit: ir.IntegerValue) -> ir.StringValue:
    """A whole number of minor units as a decimal written out, exactly (4900, 100: 49.00).

    >>> t = ibis.memtable({"a": [4900, -5, 7], "per": [100, 1000, 1]})
    >>> ibis.duckdb.connect().to_pyarrow(in_major_units(t.a, t.per)).to_pylist()
    ['49.00', '-0.005', '7']
    """
    magnitude = amount.abs()
    whole = (magnitude // per_unit).cast("string")
    digits = ibis.cases((per_unit == 1000, 3), (per_unit == 100, 2), else_=0)
    fraction = (magnitude % per_unit).cast("string").lpad(digits, "0")
    sign = ibis.ifelse(amount < 0, "-", "")
    text: ir.StringValue = sign + whole + ibis.ifelse(digits > 0, "." + fraction, "")
    return text


def _negated(s: ir.Value, credit: ir.BooleanValue) -> ir.Value:
    """An amount counted against what it refunds where ``credit`` holds."""
    if not is_text(s):
        return ibis.ifelse(credit, -s, s)
    flipped = ibis.cases(
        (s == "", s),
        (s.startswith("-"), s.substr(1)),
        (s.startswith("+"), "-" + s.substr(1)),
        else_="-" + s,
    )
    return ibis.ifelse(credit, flipped, s)

"""How a staged cell is read: whether it is well formed for its column's kind, its typed value,
and how a value is worded in a message.

A table arrives staged as text (a CSV) or typed (Parquet, a database; see
:mod:`headroom.sources.readers`). These are ibis expressions over a whole column, so that the
checks in :mod:`headroom.sources.validate` and the load in :mod:`headroom.sources.load` read
every row the same way, in the engine.
"""

from __future__ import annotations

import datetime as dt
import difflib
import zoneinfo
from functools import cache
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from headroom.sources.schema import Column, Kind

_DECIMAL_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"


_INTEGER_RE = r"^[+-]?[0-9]+$"


_NUMBER_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


_TIMESTAMP_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
)


FAR_FUTURE = dt.date(9999, 12, 31)


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


def well_formed(
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


def not_valid_message(col: Column, value: str) -> str:
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

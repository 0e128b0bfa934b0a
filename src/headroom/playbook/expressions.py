"""Trigger conditions: SQL-like text parsed with sqlglot, checked, compiled to ibis.

A condition such as ``seat_utilisation > 0.85 and tier in ('Starter', 'Professional')`` is
parsed by sqlglot into a syntax tree, translated into a small tree of our own that admits only
what a condition needs (names from the signal catalogue, literals, comparisons, ``and`` / ``or``
/ ``not``, ``in``, ``between``, ``is null``, arithmetic), type-checked against the catalogue,
and compiled to an ibis expression over a table with one column per signal. The text is never
evaluated and no SQL from it reaches an engine: the engine only ever sees what ibis generates
from the checked tree.

>>> cond = parse("seat_utilisation > 0.85", {"seat_utilisation": SignalType.number})
>>> cond.names()
{'seat_utilisation'}
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import ibis
import ibis.expr.types as ir
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from headroom.errors import ConfigError


class SignalType(StrEnum):
    """What a signal's values are, for type-checking conditions."""

    number = "number"
    text = "text"
    boolean = "boolean"


class ConditionError(ConfigError):
    """A condition that cannot be used; ``column`` is 1-based within the condition's text."""

    def __init__(self, message: str, *, column: int = 1, fix: str | None = None) -> None:
        self.column = column
        super().__init__(message, fix=fix)


# -- the checked tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    column: int  # where it starts in the text, for messages

    def on(self, table: ir.Table) -> ir.BooleanValue:
        """This condition over ``table``, null-safe (see :func:`compile_condition`)."""
        return compile_condition(self, table)

    def names(self) -> set[str]:
        return set().union(*(c.names() for c in self.children()))

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True)
class Name(Node):
    name: str

    def names(self) -> set[str]:
        return {self.name}


@dataclass(frozen=True)
class Value(Node):
    value: float | str | bool


@dataclass(frozen=True)
class Compare(Node):
    op: str  # = != < <= > >=
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Arith(Node):
    op: str  # + - * /
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Logic(Node):
    op: str  # and / or
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Not(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class InList(Node):
    operand: Node
    values: tuple[Value, ...]

    def children(self) -> tuple[Node, ...]:
        return (self.operand, *self.values)


@dataclass(frozen=True)
class Between(Node):
    operand: Node
    low: Node
    high: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand, self.low, self.high)


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


# -- parsing ------------------------------------------------------------------------------------

_COMPARE = {exp.EQ: "=", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
_ARITH = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}
_ALLOWED = (
    "names of signals, numbers, 'text', true/false, = != < <= > >=, and, or, not, in (...), "
    "between, is null, + - * /"
)


#: Limits that keep the recursive parser (and readers of the playbook) out of trouble.
MAX_LENGTH = 2000
MAX_PARENS = 50


def _column_of(node: exp.Expression, text: str) -> int:
    """1-based column where a node starts, from sqlglot's token positions."""
    for sub in node.walk(bfs=False):  # depth first: the leftmost token comes first
        meta = getattr(sub, "meta", None) or {}
        if "start" in meta:
            return int(meta["start"]) + 1
        if isinstance(sub, exp.Literal):
            found = text.find(str(sub.this))
            if found >= 0:
                return found + 1
    return 1


def parse(text: str, catalogue: Mapping[str, SignalType]) -> Node:
    """Parse and type-check a condition; raise :class:`ConditionError` with a column."""
    if not text.strip():
        raise ConditionError("the condition is empty", fix="write e.g. seat_utilisation > 0.85")
    if len(text) > MAX_LENGTH or text.count("(") > MAX_PARENS:
        raise ConditionError(
            f"the condition is too long or nests too deeply (over {MAX_LENGTH} characters or "
            f"{MAX_PARENS} parentheses)",
            fix="split it into named signals or simpler triggers",
        )
    try:
        statements = sqlglot.parse(text, read="duckdb")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        col = int(first.get("col", 1) or 1)
        near = (first.get("highlight") or "").strip()
        where = f" near {near!r}" if near else ""
        raise ConditionError(
            f"cannot read the condition{where}", column=max(col - len(near) + 1, 1),
            fix=f"a condition uses {_ALLOWED}",
        ) from None  # fmt: skip
    except TokenError as exc:
        raise ConditionError(
            f"cannot read the condition ({str(exc).splitlines()[0]})",
            fix="check quotes: text values go in single quotes, e.g. tier = 'Business'",
        ) from None
    if len(statements) != 1 or statements[0] is None:
        raise ConditionError(
            "the condition holds more than one statement",
            column=text.find(";") + 1 if ";" in text else 1,
            fix="write one expression, without ';'",
        )
    node = _translate(statements[0], text, catalogue)
    kind = _type(node, catalogue, text)
    if kind != SignalType.boolean:
        raise ConditionError(
            f"the condition is a {kind}, not true or false",
            column=node.column,
            fix="compare it, e.g. seat_utilisation > 0.85",
        )
    return node


def _number(text: str, column: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConditionError(
            f"{text!r} is not a number", column=column, fix="write numbers like 0.85 or 3"
        )
    return value


def _translate(e: exp.Expression, text: str, catalogue: Mapping[str, SignalType]) -> Node:
    col = _column_of(e, text)
    if isinstance(e, exp.Paren):
        return _translate(e.this, text, catalogue)
    if isinstance(e, exp.Column) and not e.table:
        name = e.name
        if name.lower() in ("true", "false"):
            return Value(col, name.lower() == "true")
        if name not in catalogue and isinstance(e.this, exp.Identifier) and e.this.quoted:
            raise ConditionError(
                f'"{name}" in double quotes is a name, and no signal is called that',
                column=col,
                fix=f"text values go in single quotes: '{name}'",
            )
        if name not in catalogue:
            close = difflib.get_close_matches(name, list(catalogue), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConditionError(
                f"unknown signal {name!r}{hint}",
                column=col,
                fix="use a signal of the catalogue (headroom check lists them), or quote text "
                "values in single quotes",
            )
        return Name(col, name)
    if isinstance(e, exp.Boolean):
        return Value(col, bool(e.this))
    if isinstance(e, exp.Literal):
        return Value(col, str(e.this) if e.is_string else _number(str(e.this), col))
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal) and not e.this.is_string:
        return Value(col, -_number(str(e.this.this), col))
    for cls, op in _COMPARE.items():
        if isinstance(e, cls):
            left, right = (
                _translate(e.this, text, catalogue),
                _translate(e.expression, text, catalogue),
            )
            return Compare(col, op, left, right)
    for cls, op in _ARITH.items():
        if isinstance(e, cls):
            left, right = (
                _translate(e.this, text, catalogue),
                _translate(e.expression, text, catalogue),
            )
            return Arith(col, op, left, right)
    if isinstance(e, exp.And | exp.Or):
        op = "and" if isinstance(e, exp.And) else "or"
        return Logic(
            col, op, _translate(e.this, text, catalogue), _translate(e.expression, text, catalogue)
        )
    if isinstance(e, exp.Not):
        inner = e.this
        if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
            return Not(col, IsNull(col, _translate(inner.this, text, catalogue)))
        return Not(col, _translate(inner, text, catalogue))
    if isinstance(e, exp.Is) and isinstance(e.expression, exp.Null):
        return IsNull(col, _translate(e.this, text, catalogue))
    if isinstance(e, exp.In) and e.expressions and not e.args.get("query"):
        values = []
        for v in e.expressions:
            item = _translate(v, text, catalogue)
            if not isinstance(item, Value):
                raise ConditionError(
                    "in (...) takes a list of values", column=item.column,
                    fix="write e.g. tier in ('Starter', 'Professional')",
                )  # fmt: skip
            values.append(item)
        return InList(col, _translate(e.this, text, catalogue), tuple(values))
    if isinstance(e, exp.Between):
        return Between(
            col,
            _translate(e.this, text, catalogue),
            _translate(e.args["low"], text, catalogue),
            _translate(e.args["high"], text, catalogue),
        )
    what = e.key.replace("_", " ")
    # A function's name carries no position; find it before its first argument.
    before = text.lower().rfind(e.key.lower(), 0, col)
    if before >= 0:
        col = before + 1
    raise ConditionError(
        f"{what!r} is not allowed in a condition", column=col, fix=f"a condition uses {_ALLOWED}"
    )


# -- types --------------------------------------------------------------------------------------


def _describe(node: Node) -> str:
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Value):
        return (
            repr(node.value) if isinstance(node.value, str) else str(node.value).removesuffix(".0")
        )
    return "the expression"


def _value_type(v: Value) -> SignalType:
    if isinstance(v.value, bool):
        return SignalType.boolean
    return SignalType.text if isinstance(v.value, str) else SignalType.number


def _type(node: Node, catalogue: Mapping[str, SignalType], text: str) -> SignalType:
    t = SignalType
    if isinstance(node, Name):
        return catalogue[node.name]
    if isinstance(node, Value):
        return _value_type(node)
    if isinstance(node, Arith):
        for side in (node.left, node.right):
            if _type(side, catalogue, text) != t.number:
                raise ConditionError(
                    f"{_describe(side)} is not a number, so it cannot take part in {node.op}",
                    column=side.column,
                )
        return t.number
    if isinstance(node, Compare):
        a, b = _type(node.left, catalogue, text), _type(node.right, catalogue, text)
        if a != b:
            subject = node.left if isinstance(node.left, Name) else node.right
            other = node.right if subject is node.left else node.left
            fix = f"compare {_describe(subject)} with a {catalogue.get(_describe(subject), a)}"
            if _describe(subject) == "tier":
                fix = "compare tier with text such as tier = 'Business', or use tier_rank > 3"
            raise ConditionError(
                f"{_describe(subject)} is {_article(_type(subject, catalogue, text))} but "
                f"{_describe(other)} is {_article(_type(other, catalogue, text))}",
                column=node.column,
                fix=fix,
            )
        if a in (t.text, t.boolean) and node.op not in ("=", "!="):
            raise ConditionError(
                f"{_describe(node.left)} is {_article(a)}: it has no order for {node.op}",
                column=node.column,
                fix="compare text with = or in (...); order comparisons are for numbers",
            )
        return t.boolean
    if isinstance(node, Logic):
        for side in (node.left, node.right):
            if _type(side, catalogue, text) != t.boolean:
                raise ConditionError(
                    f"{_describe(side)} is not true or false, so it cannot be joined with "
                    f"{node.op}",
                    column=side.column,
                    fix="compare it, e.g. seat_utilisation > 0.85",
                )
        return t.boolean
    if isinstance(node, Not):
        if _type(node.operand, catalogue, text) != t.boolean:
            raise ConditionError(
                f"not needs true or false, and {_describe(node.operand)} is not",
                column=node.column,
            )
        return t.boolean
    if isinstance(node, InList):
        kind = _type(node.operand, catalogue, text)
        for v in node.values:
            if _value_type(v) != kind:
                raise ConditionError(
                    f"{_describe(v)} is {_article(_value_type(v))} but "
                    f"{_describe(node.operand)} is {_article(kind)}",
                    column=v.column,
                    fix="list values of the same kind as the signal",
                )
        return t.boolean
    if isinstance(node, Between):
        for side in (node.operand, node.low, node.high):
            if _type(side, catalogue, text) != t.number:
                raise ConditionError(
                    f"between needs numbers, and {_describe(side)} is not one",
                    column=side.column,
                )
        return t.boolean
    if isinstance(node, IsNull):
        _type(node.operand, catalogue, text)
        return t.boolean
    raise AssertionError(node)  # pragma: no cover - every node kind is handled above


def _article(kind: SignalType) -> str:
    return {"number": "a number", "text": "text", "boolean": "true or false"}[kind.value]


# -- compiling ----------------------------------------------------------------------------------

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def conjuncts(node: Node) -> list[Node]:
    """The parts of a condition joined by ``and`` at its top (the condition itself if none)."""
    if isinstance(node, Logic) and node.op == "and":
        return [*conjuncts(node.left), *conjuncts(node.right)]
    return [node]


def _strict(node: Node, null: set[str]) -> bool:
    """Whether the value is unknown (null) whenever the signals in ``null`` are."""
    if isinstance(node, Name):
        return node.name in null
    if isinstance(node, Compare | Arith):
        return _strict(node.left, null) or _strict(node.right, null)
    if isinstance(node, InList | Between | Not):
        return _strict(node.operand, null)
    if isinstance(node, Logic):  # unknown and false is false: both sides must be unknown
        return _strict(node.left, null) and _strict(node.right, null)
    return False  # a value, or "is null"


def rejects_nulls(node: Node, null: set[str]) -> bool:
    """Whether the condition cannot hold when the signals in ``null`` have no value.

    Conservative: False when unsure (``not``, ``is null``). The backtest uses it to skip the
    account-days on which those signals have no value.

    >>> from headroom.signals.registry import types
    >>> rejects_nulls(parse("seats > 10 and tier = 'Pro'", types()), {"seats"})
    True
    >>> rejects_nulls(parse("seats > 10 or tier = 'Pro'", types()), {"seats"})
    False
    """
    if _strict(node, null):
        return True
    if isinstance(node, Logic):
        left, right = rejects_nulls(node.left, null), rejects_nulls(node.right, null)
        return (left or right) if node.op == "and" else (left and right)
    return False


def compile_condition(node: Node, table: ir.Table) -> ir.BooleanValue:
    """The checked condition as an ibis boolean over ``table`` (one column per signal).

    A signal without a value (null) makes a comparison unknown, and an unknown condition does
    not fire: the result is null-safe (``coalesce(..., false)``).
    """
    value = _compile(node, table)
    result: ir.BooleanValue = ibis.coalesce(value, ibis.literal(False))
    return result


def _compile(node: Node, table: ir.Table) -> Any:
    if isinstance(node, Name):
        return table[node.name]
    if isinstance(node, Value):
        return ibis.literal(node.value)
    if isinstance(node, Compare | Arith):
        return _OPS[node.op](_compile(node.left, table), _compile(node.right, table))
    if isinstance(node, Logic):
        left, right = _compile(node.left, table), _compile(node.right, table)
        return (left & right) if node.op == "and" else (left | right)
    if isinstance(node, Not):
        return ~_compile(node.operand, table)
    if isinstance(node, InList):
        return _compile(node.operand, table).isin([v.value for v in node.values])
    if isinstance(node, Between):
        return _compile(node.operand, table).between(
            _compile(node.low, table), _compile(node.high, table)
        )
    if isinstance(node, IsNull):
        return _compile(node.operand, table).isnull()
    raise AssertionError(node)  # pragma: no cover

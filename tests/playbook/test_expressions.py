"""Trigger conditions: parsed, checked and compiled, never evaluated as text."""

from __future__ import annotations

from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.errors import HeadroomError
from headroom.playbook.expressions import (
    ConditionError,
    SignalType,
    compile_condition,
    parse,
)

CATALOGUE = {
    "seat_utilisation": SignalType.number,
    "power_users": SignalType.number,
    "tier": SignalType.text,
    "tier_rank": SignalType.number,
    "onboarded": SignalType.boolean,
}


def error(text: str) -> tuple[int, str]:
    with pytest.raises(ConditionError) as err:
        parse(text, CATALOGUE)
    return err.value.column, str(err.value)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        (
            "seat_utilisaton > 0.85",
            1,
            "unknown signal 'seat_utilisaton' (did you mean seat_utilisation?); use a signal of "
            "the catalogue (headroom check lists them), or quote text values in single quotes",
        ),
        (
            "tier > 3",
            1,
            "tier is text but 3 is a number; compare tier with text such as tier = 'Business', "
            "or use tier_rank > 3",
        ),
        (
            "tier < 'Business'",
            1,
            "tier is text: it has no order for <; compare text with = or in (...); order "
            "comparisons are for numbers",
        ),
        (
            "seat_utilisation > 0.85; drop table accounts",
            24,
            "the condition holds more than one statement; write one expression, without ';'",
        ),
        (
            "upper(tier) = 'X'",
            1,
            "'upper' is not allowed in a condition; a condition uses names of signals, numbers, "
            "'text', true/false, = != < <= > >=, and, or, not, in (...), between, is null, "
            "+ - * /",
        ),
        (
            "tier in ('Starter', 2)",
            21,
            "2 is a number but tier is text; list values of the same kind as the signal",
        ),
        (
            "tier = 'Starter' and power_users",
            22,
            "power_users is not true or false, so it cannot be joined with and; compare it, "
            "e.g. seat_utilisation > 0.85",
        ),
        ("power_users + 1", 1, "the condition is a number, not true or false; compare it, "
         "e.g. seat_utilisation > 0.85"),
        ("", 1, "the condition is empty; write e.g. seat_utilisation > 0.85"),
        (
            'tier = "Starter"',
            8,
            "\"Starter\" in double quotes is a name, and no signal is called that; text values "
            "go in single quotes: 'Starter'",
        ),
        (
            "(" * 60 + "tier = 'a'" + ")" * 60,
            1,
            "the condition is too long or nests too deeply (over 2000 characters or 50 "
            "parentheses); split it into named signals or simpler triggers",
        ),
        (
            "seat_utilisation > 1e999",
            20,
            "'1e999' is not a number; write numbers like 0.85 or 3",
        ),
    ],
)  # fmt: skip
def test_bad_conditions_get_precise_messages(text: str, column: int, message: str) -> None:
    assert error(text) == (column, message)


def test_a_parse_error_points_at_the_trouble() -> None:
    column, message = error("seat_utilisation > and tier = 'x'")
    assert column == 20
    assert message.startswith("cannot read the condition near 'and'; a condition uses")


ROWS: list[dict[str, Any]] = [
    {"seat_utilisation": 0.9, "power_users": 3.0, "tier": "Starter", "tier_rank": 1.0,
     "onboarded": True},
    {"seat_utilisation": 0.5, "power_users": 0.0, "tier": "Business", "tier_rank": 3.0,
     "onboarded": False},
    {"seat_utilisation": None, "power_users": 5.0, "tier": "Professional", "tier_rank": 2.0,
     "onboarded": True},
    {"seat_utilisation": 0.86, "power_users": None, "tier": None, "tier_rank": None,
     "onboarded": None},
]  # fmt: skip
SCHEMA = {
    "seat_utilisation": "float64",
    "power_users": "float64",
    "tier": "string",
    "tier_rank": "float64",
    "onboarded": "boolean",
}


def fires(text: str) -> list[bool]:
    table = ibis.memtable(ROWS, schema=SCHEMA).mutate(_row=ibis.row_number())
    cond = compile_condition(parse(text, CATALOGUE), table)
    out = table.select("_row", fired=cond).order_by("_row").to_pyarrow().to_pylist()
    return [r["fired"] for r in out]


def test_compiled_conditions_on_duckdb() -> None:
    assert fires("seat_utilisation > 0.85 and tier in ('Starter', 'Professional')") == [
        True, False, False, False,
    ]  # fmt: skip
    assert fires("power_users >= 3 or not onboarded") == [True, True, True, False]
    assert fires("seat_utilisation between 0.5 and 0.86") == [False, True, False, True]
    assert fires("tier is null") == [False, False, False, True]
    assert fires("power_users * 2 - 1 > tier_rank + 3") == [True, False, True, False]


# -- a plain-Python reference over random well-typed conditions ---------------------------------

numbers = st.sampled_from(["seat_utilisation", "power_users", "tier_rank", "0.5", "1", "3"])


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["cmp", "in", "between", "null", "not", "logic"] if depth < 2
                                else ["cmp", "in", "null"]))  # fmt: skip
    if kind == "cmp":
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        return f"{draw(numbers)} {op} {draw(numbers)}"
    if kind == "in":
        tiers = draw(st.lists(st.sampled_from(["Starter", "Business", "Pro"]), min_size=1))
        return "tier in (" + ", ".join(f"'{t}'" for t in tiers) + ")"
    if kind == "between":
        return f"{draw(numbers)} between {draw(numbers)} and {draw(numbers)}"
    if kind == "null":
        return f"{draw(st.sampled_from(list(CATALOGUE)))} is null"
    if kind == "not":
        return f"not ({draw(conditions(depth + 1))})"
    op = draw(st.sampled_from(["and", "or"]))
    return f"({draw(conditions(depth + 1))}) {op} ({draw(conditions(depth + 1))})"


def reference(text: str, row: dict[str, Any]) -> bool:
    """Evaluate with SQL's three-valued logic in plain Python, from the checked tree."""
    from headroom.playbook import expressions as x

    def value(node: Any) -> Any:
        if isinstance(node, x.Name):
            return row[node.name]
        if isinstance(node, x.Value):
            return node.value
        if isinstance(node, x.Compare):
            a, b = value(node.left), value(node.right)
            if a is None or b is None:
                return None
            return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                    ">=": a >= b}[node.op]  # fmt: skip
        if isinstance(node, x.Logic):
            a, b = value(node.left), value(node.right)
            if node.op == "and":
                return False if (a is False or b is False) else (None if None in (a, b) else True)
            return True if (a is True or b is True) else (None if None in (a, b) else False)
        if isinstance(node, x.Not):
            a = value(node.operand)
            return None if a is None else not a
        if isinstance(node, x.InList):
            a = value(node.operand)
            return None if a is None else a in [v.value for v in node.values]
        if isinstance(node, x.Between):  # a >= lo and a <= hi, each part three-valued
            a, lo, hi = value(node.operand), value(node.low), value(node.high)
            low = None if None in (a, lo) else a >= lo
            high = None if None in (a, hi) else a <= hi
            if low is False or high is False:
                return False
            return None if None in (low, high) else True
        if isinstance(node, x.IsNull):
            return value(node.operand) is None
        raise AssertionError(node)

    return value(parse(text, CATALOGUE)) is True


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions())
def test_compiled_conditions_match_a_reference(text: str) -> None:
    assert fires(text) == [reference(text, row) for row in ROWS]


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz_ ()<>=!'.,;*+-/0123456789\"\\\n"))
        | st.characters(),
        max_size=60,
    )
)
def test_fuzzed_text_never_gives_a_traceback(text: str) -> None:
    try:
        node = parse(text, CATALOGUE)
    except HeadroomError as err:
        assert str(err)
        assert isinstance(err, ConditionError)
        assert err.column >= 1
    else:
        assert node.names() <= set(CATALOGUE)


@settings(max_examples=200, deadline=None)
@given(conditions(), st.integers(0, 40), st.sampled_from(["(", ")", "'", ";", "and", ",", "in"]))
def test_mangled_conditions_never_give_a_traceback(text: str, at: int, junk: str) -> None:
    mangled = text[:at] + junk + text[at:]
    try:
        parse(mangled, CATALOGUE)
    except ConditionError as err:
        assert err.column >= 1


@settings(max_examples=400, deadline=None)
@given(conditions(), st.sets(st.sampled_from(list(CATALOGUE)), min_size=1), st.data())
def test_a_condition_that_rejects_nulls_never_holds_without_those_values(
    text: str, null: set[str], data: st.DataObject
) -> None:
    # The backtest skips the account-days a step form has no value on when this says so.
    from headroom.playbook.expressions import rejects_nulls

    if not rejects_nulls(parse(text, CATALOGUE), null):
        return
    for row in ROWS:
        assert reference(text, {**row, **dict.fromkeys(null)}) is False
    values = {name: data.draw(st.sampled_from([r[name] for r in ROWS])) for name in CATALOGUE}
    assert reference(text, {**values, **dict.fromkeys(null)}) is False


def test_which_conditions_reject_nulls() -> None:
    from headroom.playbook.expressions import rejects_nulls

    def rejects(text: str, *null: str) -> bool:
        return rejects_nulls(parse(text, CATALOGUE), set(null))

    assert rejects("seat_utilisation > 0.85", "seat_utilisation")
    assert rejects("power_users >= 3 and tier in ('Starter')", "tier")
    assert rejects("power_users * 2 > tier_rank", "tier_rank")
    assert rejects("(tier_rank > 1 or power_users > 1) and onboarded", "tier_rank", "onboarded")
    assert not rejects("tier_rank > 1 or power_users > 1", "tier_rank")
    assert not rejects("not (tier_rank > 1 and power_users > 1)", "tier_rank")
    assert not rejects("tier is null", "tier")
    assert not rejects("seat_utilisation between 0.5 and tier_rank", "tier_rank")

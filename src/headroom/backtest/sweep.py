"""Threshold sweeps: what a trigger would have done with another number in its condition.

``seat_expansion_proactive.threshold=0.75:0.95:0.05`` replays the playbook with the number in
that trigger's condition set to 0.75, 0.80, ... 0.95 in turn (the signals of every day are
computed once and shared) and scores the trigger each time. A condition with several numbers
names the one to sweep by its place: ``enterprise_expansion.threshold2`` is the second.

>>> from headroom.playbook.expressions import parse
>>> from headroom.signals.registry import types
>>> when = parse("tier = 'Business' and seat_utilisation > 0.8 and acv > 25000", types())
>>> [n.value for n in numbers(when)]
[0.8, 25000.0]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from dataclasses import dataclass
from typing import Any

from headroom.backtest.accuracy import score
from headroom.backtest.replay import Replayer
from headroom.errors import UsageError
from headroom.playbook.expressions import Node, Value
from headroom.playbook.model import Playbook
from headroom.sources import Source

__all__ = ["Sweep", "numbers", "parse_sweep", "sweep", "with_threshold"]

_SPEC = re.compile(
    r"^(?P<trigger>[^.=\s]+)\.threshold(?P<n>[1-9][0-9]*)?="
    r"(?P<start>-?[0-9.]+):(?P<stop>-?[0-9.]+):(?P<step>[0-9.]+)$"
)
#: More replays than this would take long and say little more.
MAX_VALUES = 50
EXAMPLE = "e.g. --sweep seat_expansion_proactive.threshold=0.75:0.95:0.05"


@dataclass(frozen=True)
class Sweep:
    """Which number of which trigger's condition to set to which values."""

    trigger: str
    number: int  # 1-based place of the number in the condition
    values: tuple[float, ...]


def numbers(node: Node) -> list[Value]:
    """The numbers of a condition, in the order they are written."""
    found: list[Value] = []

    def walk(n: Node) -> None:
        if (
            isinstance(n, Value)
            and isinstance(n.value, float | int)
            and not isinstance(n.value, bool)
        ):
            found.append(n)
        for child in n.children():
            walk(child)

    walk(node)
    return sorted(found, key=lambda v: v.column)


def parse_sweep(text: str, playbook: Playbook) -> Sweep:
    """``TRIGGER.threshold[N]=START:STOP:STEP`` checked against the playbook."""
    m = _SPEC.match(text.strip())
    try:
        start, stop, step = (float(m[k]) for k in ("start", "stop", "step")) if m else (0, 0, 0)
    except ValueError:
        m = None
    if m is None:
        raise UsageError(f"--sweep {text!r} is not TRIGGER.threshold=START:STOP:STEP", fix=EXAMPLE)
    ids = [t.id for t in playbook.model.triggers]
    trigger = m["trigger"]
    if trigger not in ids:
        close = difflib.get_close_matches(trigger, ids, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"--sweep: the playbook has no trigger {trigger!r}{hint}",
            fix=f"its triggers are {', '.join(ids)}",
        )
    if step <= 0 or stop < start:
        raise UsageError(
            f"--sweep {text!r}: the values go from {start:g} to {stop:g} in steps of {step:g}",
            fix="give a positive step and a stop at least the start, " + EXAMPLE,
        )
    count = int((stop - start) / step + 1e-9) + 1
    if count > MAX_VALUES:
        raise UsageError(
            f"--sweep {text!r} asks for {count} values", fix=f"sweep at most {MAX_VALUES}"
        )
    found = numbers(playbook.conditions[("triggers", ids.index(trigger), "when")])
    when = playbook.trigger(trigger).when
    if not found:
        raise UsageError(
            f"--sweep: trigger {trigger}'s condition {when!r} has no number to sweep",
            fix="sweep a trigger whose condition compares a signal with a number",
        )
    number = int(m["n"] or 0)
    if number == 0 and len(found) > 1:
        shown = ", ".join(f"{v.value:g}" for v in found)
        raise UsageError(
            f"--sweep: trigger {trigger}'s condition has {len(found)} numbers ({shown})",
            fix=f"say which: {trigger}.threshold1 to {trigger}.threshold{len(found)}",
        )
    if number > len(found):
        raise UsageError(
            f"--sweep: trigger {trigger}'s condition {when!r} has {len(found)} "
            f"number{'s' if len(found) > 1 else ''}, not {number}",
            fix=f"use {trigger}.threshold1 to {trigger}.threshold{len(found)}",
        )
    values = tuple(round(start + i * step, 10) for i in range(count))
    return Sweep(trigger, number or 1, values)


def _replace(node: Node, target: Value, value: float) -> Node:
    if node is target:
        return dataclasses.replace(target, value=value)
    changes: dict[str, Any] = {
        f.name: _replace(v, target, value)
        if isinstance(v := getattr(node, f.name), Node)
        else tuple(_replace(x, target, value) for x in v)
        if isinstance(v, tuple)
        else v
        for f in dataclasses.fields(node)
    }
    return dataclasses.replace(node, **changes)


def with_threshold(playbook: Playbook, spec: Sweep, value: float) -> Playbook:
    """The playbook with the swept number of the trigger's condition set to ``value``."""
    ids = [t.id for t in playbook.model.triggers]
    loc = ("triggers", ids.index(spec.trigger), "when")
    target = numbers(playbook.conditions[loc])[spec.number - 1]
    conditions = dict(playbook.conditions)
    conditions[loc] = _replace(conditions[loc], target, value)
    return dataclasses.replace(playbook, conditions=conditions, version=f"{playbook.version}~")


def sweep(
    source: Source,
    playbook: Playbook,
    spec: Sweep,
    start: dt.date,
    end: dt.date,
    horizon: int,
) -> list[dict[str, Any]]:
    """One row per value: the trigger's firings and scores, ``best`` on the highest lift."""
    rows: list[dict[str, Any]] = []
    with Replayer(source, playbook, start, end, horizon) as replayer:
        for value in spec.values:
            result = score(
                source, replayer.replay(with_threshold(playbook, spec, value)), detail=False
            )
            row = next(s for s in result.triggers if s.trigger == spec.trigger).to_dict()
            rows.append({"threshold": value, **{k: v for k, v in row.items() if k != "trigger"}})
    lifts = [r["lift"] for r in rows if r["lift"] is not None]
    best = max(lifts) if lifts else None
    marked = False
    for r in rows:
        r["best"] = not marked and best is not None and r["lift"] == best
        marked = marked or r["best"]
    return rows

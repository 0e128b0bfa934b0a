"""A play's evidence in words: the figures that made it fire, as a person would say them.

>>> describe({"seat_utilisation": 0.91, "days_held": 7})
'seat utilisation 91% for 7 days'
>>> describe({"days_to_limit_storage_gb": 41.2, "days_to_limit_storage_gb_low": 35.0,
...           "days_to_limit_storage_gb_high": 50.4, "growth_storage_gb_3m": 0.085})
... # doctest: +NORMALIZE_WHITESPACE
'storage gb reaches its limit in 42 days (80%: 35-51),
 storage gb growing at least 8.5% a month for 3 months'
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headroom.playbook.model import Playbook

_EVENTS = re.compile(r"events_(.+)_(\d+)d")
_GROWTH = re.compile(r"growth_(.+)_(\d+)m")
_LIMIT = re.compile(r"days_to_limit_(.+?)(_low|_high)?")
_SHARE = re.compile(r"limit_share_(.+)")
_PROJECTION = re.compile(r"projection_(.+)")
_NO_DATE = {
    "not_growing": "is not growing: no ceiling date",
    "too_little_history": "has under 28 days of usage: too little to project",
}


def _words(name: str) -> str:
    return name.replace("_", " ")


def _days(value: float) -> str:
    n = math.ceil(value)
    return "1 day" if n == 1 else f"{n:,} days"


def evidence_names(playbook: Playbook, index: int) -> list[str]:
    """The figures a play of the playbook's ``index``-th trigger carries as evidence, in order:
    the signals its condition reads, what its timing is set by, how long it held."""
    from headroom.playbook.model import Timing

    trigger = playbook.model.triggers[index]
    names = sorted(playbook.conditions[("triggers", index, "when")].names())
    if Timing.parse(trigger.timing).kind == "before_ceiling":
        names += [n for n in ("days_to_limit",) if n not in names] + ["projected_ceiling"]
    if trigger.persistence is not None:
        names.append("cycles_held" if trigger.persistence.unit == "cycles" else "days_held")
    return names


def describe(evidence: dict[str, Any]) -> str:
    """The evidence as one line of words and numbers, in the order it was given."""
    parts: list[str] = []
    for name, value in evidence.items():
        if value is None and not name.startswith(("days_to_limit", "projected_ceiling")):
            continue
        part = _describe(name, value, evidence)
        if part:
            parts.append(part)
    return ", ".join(parts).replace(", for ", " for ")


def _describe(name: str, value: Any, evidence: dict[str, Any]) -> str | None:
    if m := _EVENTS.fullmatch(name):
        days = int(m.group(2))
        span = "today" if days == 1 else f"in {days} days"
        return f"{_words(m.group(1))} events: {int(value)} {span}"
    if m := _GROWTH.fullmatch(name):
        metric, months = _words(m.group(1)), int(m.group(2))
        if months == 1:
            return f"{metric} {value:+.1%} month over month"
        verb = "growing at least" if value >= 0 else "changing by at most"
        return f"{metric} {verb} {abs(value):.1%} a month for {months} months"
    if m := _LIMIT.fullmatch(name):
        if m.group(2):
            return None  # said with the estimate
        metric = m.group(1)
        if value is None:
            status = str(evidence.get(f"projection_{metric}"))
            return f"{_words(metric)} {_NO_DATE.get(status, 'has no ceiling date')}"
        if value == 0:
            return f"{_words(metric)} is at its limit"
        low, high = evidence.get(f"{name}_low"), evidence.get(f"{name}_high")
        interval = ""
        if low is not None:
            top = f"{math.ceil(high)}" if high is not None else "never"
            interval = f" (80%: {math.floor(low)}-{top})"
        return f"{_words(metric)} reaches its limit in {_days(value)}{interval}"
    if _PROJECTION.fullmatch(name):
        return None  # said with days_to_limit
    if name == "days_to_limit":
        return None if value is None else f"nearest limit in {_days(value)}"
    if name == "projected_ceiling":
        return "no projected ceiling, so due now" if value is None else f"ceiling {value}"
    if m := _SHARE.fullmatch(name):
        return f"{_words(m.group(1))} at {value:.0%} of its limit"
    if name == "limit_share":
        return f"{value:.0%} of a plan limit"
    if name == "days_held":
        return f"for {int(value)} days"
    if name == "cycles_held":
        return f"for {int(value)} billing cycles"
    if name == "days_to_renewal":
        return f"renewal in {_days(value)}"
    if isinstance(value, bool):
        return _words(name) if value else f"not {_words(name)}"
    if isinstance(value, float):
        if "utilisation" in name or "share" in name:
            return f"{_words(name)} {value:.0%}"
        shown = f"{value:,.0f}" if value == int(value) or abs(value) >= 100 else f"{value:,.2f}"
        return f"{_words(name)} {shown}"
    if isinstance(value, dt.date):
        return f"{_words(name)} {value.isoformat()}"
    return f"{_words(name)} {value}"

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

from typing import TYPE_CHECKING, Any

from headroom.signals.registry import describer
from headroom.signals.wording import figure

if TYPE_CHECKING:
    from headroom.playbook.model import Playbook


#: What a play timed before the ceiling carries: the days it is timed against, and how surely.
CEILING = ("days_to_limit", "days_to_limit_low", "days_to_limit_high")
#: What a play whose condition reads the learned score carries beside it: the figures that
#: raised it most (see :mod:`headroom.signals.readiness`).
READINESS, READINESS_REASONS = "readiness", "readiness_reasons"


def beside(names: set[str]) -> list[str]:
    """What a play carries beside the signals its condition reads: the learned score's
    reasons where it reads the score."""
    return [READINESS_REASONS] if READINESS in names and READINESS_REASONS not in names else []


def evidence_names(playbook: Playbook, index: int) -> list[str]:
    """The figures a play of the playbook's ``index``-th trigger carries as evidence, in order:
    the signals its condition reads (the learned score with its reasons), what its timing is
    set by, how long it held."""
    from headroom.playbook.model import Timing

    trigger = playbook.model.triggers[index]
    names = sorted(playbook.when(index).names())
    names += beside(set(names))
    if Timing.parse(trigger.timing).kind == "before_ceiling":
        names += [n for n in CEILING if n not in names] + ["projected_ceiling"]
    if trigger.persistence is not None:
        names.append("cycles_held" if trigger.persistence.unit == "cycles" else "days_held")
    return names


def describe(evidence: dict[str, Any]) -> str:
    """The evidence as one line of words and numbers, in the order it was given (the learned
    score's reasons last)."""
    parts: list[str] = []
    # the score's reasons last: "readiness 31% for 7 days, because ..."
    ordered = sorted(evidence.items(), key=lambda item: item[0] == READINESS_REASONS)
    for name, value in ordered:
        if value is None and not name.startswith(("days_to_limit", "projected_ceiling")):
            continue
        part = _describe(name, value, evidence)
        if part:
            parts.append(part)
    return ", ".join(parts).replace(", for ", " for ")


def _describe(name: str, value: Any, evidence: dict[str, Any]) -> str | None:
    # the engine's own figures first: they are not signals
    if name == "projected_ceiling":
        return "no projected ceiling, so due now" if value is None else f"ceiling {value}"
    if name == "days_held":
        return f"for {int(value)} days"
    if name == "cycles_held":
        return f"for {int(value)} billing cycles"
    said = describer(name)  # a signal words its own value, as its family names it
    if said is not None:
        return said(value, evidence)
    return figure(name, value)

"""The playbook's periods in days, as the engine and the backtest count them: persistence,
cooldowns and the stage's periods.
"""

from __future__ import annotations

from headroom.errors import ConfigError
from headroom.playbook.model import Duration, Trigger


def period_days(text: str) -> int:
    """The days of a period written in days, such as a stage's ``30d``."""
    d = Duration.parse(text)
    if d.unit != "days":
        raise ConfigError(f"{text!r} must be in days here", fix="write e.g. 30d")
    return d.amount


#: Days of history that cover N completed monthly billing cycles before the as-of day.
CYCLE_DAYS = 31


def persistence_days(trigger: Trigger) -> int:
    """Days of history a trigger's persistence needs (cycles: enough for that many cycles)."""
    p = trigger.persistence
    if p is None:
        return 0
    if p.unit == "cycles":
        return (p.amount + 1) * CYCLE_DAYS
    if p.unit != "days":
        raise ConfigError(
            f"trigger {trigger.id}: for: {p} is finer than the daily data",
            fix="write the persistence in days, e.g. for: 7d",
        )
    return p.amount


def cooldown_days(trigger: Trigger) -> int:
    """The days of a trigger's cooldown (0 without one)."""
    if trigger.cooldown is None:
        return 0
    period = trigger.cooldown.period.strip().lower()
    if period in ("contract term", "term"):
        return 365  # once per (annual) contract term
    return period_days(trigger.cooldown.period)

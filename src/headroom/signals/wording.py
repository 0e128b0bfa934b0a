"""Words for figures, shared by the signals' own wording and the rest of a play's "why"."""

from __future__ import annotations

import datetime as dt
import math


def words(name: str) -> str:
    """A name as words.

    >>> words("api_calls")
    'api calls'
    """
    return name.replace("_", " ")


def in_days(value: float) -> str:
    """A number of days, rounded up.

    >>> in_days(0.2), in_days(12.5)
    ('1 day', '13 days')
    """
    n = math.ceil(value)
    return "1 day" if n == 1 else f"{n:,} days"


def figure(name: str, value: object) -> str:
    """A signal's value in plain words, where the signal has no wording of its own.

    >>> figure("seat_utilisation", 0.93), figure("power_users", 4.0), figure("acv", 30000.0)
    ('seat utilisation 93%', 'power users 4', 'acv 30,000')
    >>> figure("onboarded", False), figure("segment", "smb"), figure("mrr", None)
    ('not onboarded', 'segment smb', 'mrr unknown')
    """
    if value is None:
        return f"{words(name)} unknown"
    if isinstance(value, bool):
        return words(name) if value else f"not {words(name)}"
    if isinstance(value, float):
        if "utilisation" in name or "share" in name:
            return f"{words(name)} {value:.0%}"
        shown = f"{value:,.0f}" if value == int(value) or abs(value) >= 100 else f"{value:,.2f}"
        return f"{words(name)} {shown}"
    if isinstance(value, dt.date):
        return f"{words(name)} {value.isoformat()}"
    return f"{words(name)} {value}"

"""Words for figures, shared by the signals' own wording and the rest of a play's "why"."""

from __future__ import annotations

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

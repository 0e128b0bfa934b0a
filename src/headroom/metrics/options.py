"""What the metrics take as options, in a module that loads neither ibis nor scipy.

The command line builds its options (choices, defaults) when it starts, for every command,
``--help`` included; taking them from here keeps that start quick.
"""

from __future__ import annotations

from enum import StrEnum


class MonthConvention(StrEnum):
    """How a subscription period that starts or ends mid-month counts in a month."""

    first_day = "first_day"
    start_month = "start_month"
    any_day = "any_day"


#: The cohort that survival shares are taken to be shares of, when its size is not given.
COHORT_SIZE = 1000

#: Days at which time to expansion reports the share of accounts expanded.
MILESTONES = (90, 180, 365)

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


class Grouping(StrEnum):
    """What ``--by`` splits a revenue figure by, in every command that offers it."""

    segment = "segment"
    plan = "plan"  #: the top plan in force when the period starts (expansions: at first payment)
    csm = "csm"
    owner = "owner"  #: the CSM, else the AE
    cohort = "cohort"  #: the month of first payment


class ExpansionGrouping(StrEnum):
    """``headroom expansions --by``: the groupings, and the kind of expansion."""

    segment = "segment"
    plan = "plan"
    csm = "csm"
    owner = "owner"
    cohort = "cohort"
    kind = "kind"


#: ``--by``'s help, worded once.
GROUPING_HELP = (
    "segment, plan, csm, owner (the CSM, else the AE) or cohort (month of first payment)"
)

#: The cohort that survival shares are taken to be shares of, when its size is not given.
COHORT_SIZE = 1000

#: Days at which time to expansion reports the share of accounts expanded.
MILESTONES = (90, 180, 365)

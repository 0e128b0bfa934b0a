"""The metrics under ``/api/v1/metrics``: the numbers of the Revenue page as JSON, for anyone
signed in (as the page is), with the one JSON error shape.

The source-derived numbers come from the cache the page fills (:mod:`headroom.web.metrics_cache`),
the funnel from the state store on every request. The routes are plain functions: FastAPI runs
them in its thread pool, off the event loop. Query values are parsed here, not by FastAPI,
so that a bad one answers with what was wrong, the value and the fix.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from headroom.metrics.time_to_expansion import TimeToExpansion
from headroom.plays.conversion import funnel
from headroom.web import metrics_cache
from headroom.web.api_plays import Asker
from headroom.web.parts import AsOfDep, PlaybookDep, SourceDep, StoreDep


class BridgeMonth(BaseModel):
    """One month of the MRR bridge (docs/revenue.md)."""

    month: dt.date
    starting_mrr: float
    new: float
    expansion: float
    reactivation: float
    contraction: float
    churn: float
    ending_mrr: float
    accounts: int = Field(description="paying accounts at the month's end")
    quick_ratio: float | None = Field(
        description="(new + expansion + reactivation) / (contraction + churn)"
    )


class RetentionMonth(BaseModel):
    """NRR and GRR over the twelve months ending with ``month``."""

    month: dt.date
    starting_mrr: float
    ending_mrr: float
    nrr: float | None
    grr: float | None
    accounts: int = Field(description="the cohort: accounts paying twelve months before")


class MetricsOut(BaseModel):
    as_of: dt.date
    bridge: list[BridgeMonth]
    retention: list[RetentionMonth]


class ExpansionGroup(BaseModel):
    group: str
    expansions: int
    accounts: int
    expansion_mrr: float
    expansion_arr: float = Field(description="12 x expansion_mrr")


class ExpansionOut(BaseModel):
    as_of: dt.date
    by: str
    start: dt.date
    end: dt.date
    groups: list[ExpansionGroup]


class CurvePoint(BaseModel):
    days: int
    not_yet_expanded: float = Field(description="Kaplan-Meier: share not yet expanded")
    low: float | None = Field(None, description="95% confidence interval of not_yet_expanded")
    high: float | None = None


class CurveGroup(BaseModel):
    group: str
    accounts: int
    expanded: int
    censored: int
    median_days: float | None
    median_reached: bool
    median_note: str | None = None
    expanded_by_90d: float | None
    expanded_by_180d: float | None
    expanded_by_365d: float | None
    curve: list[CurvePoint]


class TimeToExpansionOut(BaseModel):
    as_of: dt.date
    by: str
    step: int
    groups: list[CurveGroup]


class FunnelTrigger(BaseModel):
    trigger: str
    fired: int
    contacted: int = Field(description="plays that reached a conversation (contacted or closed)")
    open: int
    won: int
    lost: int
    declined: int
    closed: int
    win_rate: float | None = Field(description="won / closed; null before any closed")
    won_mrr: float


class FunnelOut(BaseModel):
    triggers: list[FunnelTrigger]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """The engine's decimals as floats (the API's money is JSON numbers, as a play's is)."""
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def _curve_group(fit: TimeToExpansion) -> CurveGroup:
    """``headroom time-to-expansion``'s JSON of one group, each point with its interval."""
    out = fit.to_dict()
    band = {d: (lo, hi) for d, lo, hi in fit.band}
    for point in out["curve"]:
        if point["days"] in band:
            low, high = band[point["days"]]
            point["low"], point["high"] = round(low, 6), round(high, 6)
    return CurveGroup.model_validate(out)


router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])


def _numbers(source: SourceDep, as_of: AsOfDep) -> metrics_cache.SourceMetrics:
    return metrics_cache.of_source(source, as_of)


#: The source's numbers (declared after who asks: a stranger learns nothing of the source).
Numbers = Annotated[metrics_cache.SourceMetrics, Depends(_numbers)]


start_q = Query(
    None,
    description="first day of the period (YYYY-MM-DD); default: a year before end",
    json_schema_extra={"format": "date"},
)


end_q = Query(
    None,
    description="last day of the period (YYYY-MM-DD), at most the server's as-of day (the default)",
    json_schema_extra={"format": "date"},
)


@router.get("")
def metrics(person: Asker, numbers: Numbers) -> MetricsOut:
    """The MRR bridge of the last twelve months and each month's trailing-twelve-month NRR
    and GRR, as the Revenue page shows them."""
    o = numbers.overview()
    return MetricsOut(
        as_of=o.as_of,
        bridge=[BridgeMonth.model_validate(_plain(r)) for r in o.bridge],
        retention=[RetentionMonth.model_validate(_plain(r)) for r in o.retention],
    )


@router.get("/expansion")
def expansion(
    as_of: AsOfDep,
    person: Asker,
    numbers: Numbers,
    by: str = Query(
        "segment",
        description="what to group by: owner is the CSM, else the AE; cohort the month of "
        "the first payment",
        json_schema_extra={"enum": list(metrics_cache.EXPANSION_GROUPS)},
    ),
    start: str | None = start_q,
    end: str | None = end_q,
) -> ExpansionOut:
    """Expansion ARR per group over a period (default: the twelve months ending on the
    as-of day): ``headroom expansions --since START --through END --by BY``."""
    group = metrics_cache.parse_choice(by, "by", metrics_cache.EXPANSION_GROUPS)
    period = metrics_cache.parse_period(start, end, as_of)
    rows = numbers.expansion(group, period)
    return ExpansionOut(
        as_of=as_of, by=group, start=period.start, end=period.end,
        groups=[ExpansionGroup.model_validate(_plain(r)) for r in rows],
    )  # fmt: skip


@router.get("/time-to-expansion")
def time_to_expansion(
    as_of: AsOfDep,
    person: Asker,
    numbers: Numbers,
    by: str = Query(
        "all",
        description="all: one curve of every paying account; else also one per group, as "
        "at the account's first payment",
        json_schema_extra={"enum": list(metrics_cache.CURVE_GROUPS)},
    ),
    step: str = Query(
        str(metrics_cache.MONTH_STEP),
        description="days between the curve's points",
        json_schema_extra={"type": "integer", "minimum": 1, "maximum": metrics_cache.MAX_STEP},
    ),
) -> TimeToExpansionOut:
    """Days from first payment to first expansion (Kaplan-Meier, censored at churn and at
    the as-of day), with the 95% interval of each point: ``headroom time-to-expansion``."""
    group = metrics_cache.parse_choice(by, "by", metrics_cache.CURVE_GROUPS)
    days = metrics_cache.parse_step(step)
    fits = numbers.time_to_expansion(group, days)
    return TimeToExpansionOut(
        as_of=as_of, by=group, step=days,
        groups=[_curve_group(f) for f in fits],
    )  # fmt: skip


@router.get("/funnel")
def funnel_(store: StoreDep, playbook: PlaybookDep, person: Asker) -> FunnelOut:
    """Each trigger's plays from firing to their outcome, counted in the state store now."""
    triggers = [t.id for t in playbook.model.triggers] if playbook is not None else []
    rows = funnel(store, triggers)
    return FunnelOut(triggers=[FunnelTrigger.model_validate(f.to_dict()) for f in rows])

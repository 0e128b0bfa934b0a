"""``/api/v1/experiments``: what the plays caused, treated against held-out accounts (the
Experiments page's numbers, :mod:`headroom.plays.experiments`), for anyone signed in."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from headroom.errors import NotFoundError, UsageError
from headroom.playbook.model import Playbook
from headroom.plays.experiments import Experiments, experiments
from headroom.plays.versions import texts
from headroom.sources import Source
from headroom.store.database import Store
from headroom.web.api_plays import Asker
from headroom.web.parts import AsOfDep, PlaybookDep, SourceDep, StoreDep


class ExperimentTrigger(BaseModel):
    """One trigger's treated and held-out accounts (``overall``: every trigger's)."""

    trigger: str
    holdout: float | None = Field(description="the configured share held out")
    treated: int
    held_out: int
    pending: int = Field(description="drawn, their horizon not over: not counted yet")
    rate_treated: float | None
    rate_held_out: float | None
    uplift: float | None = Field(description="rate_treated - rate_held_out")
    uplift_low: float | None = Field(description="Newcombe's 95% interval")
    uplift_high: float | None
    relative_uplift: float | None
    p_value: float | None
    mrr_treated: float | None = Field(description="expansion MRR per account")
    mrr_held_out: float | None
    incremental_arr: float | None
    incremental_arr_low: float | None = Field(description="bootstrap 95% interval")
    incremental_arr_high: float | None
    srm_p_value: float | None
    sample_ratio_mismatch: bool
    planned_held_out: int | None
    days_to_detect: int | None


class CumulativeMonth(BaseModel):
    month: dt.date
    treated: int
    held_out: int
    incremental_arr: float | None
    incremental_arr_low: float | None
    incremental_arr_high: float | None


class DesignOut(BaseModel):
    """The experiment as one playbook version set it (a new split is a new version)."""

    version: str
    first_fired: dt.date
    last_fired: dt.date
    plays: int
    holdouts: dict[str, float] = Field(description="held-out share by trigger")


class ExperimentsOut(BaseModel):
    experiment: str
    horizon_days: int
    effect: float
    data_end: dt.date
    sample_ratio_mismatch: list[str] = Field(description="triggers whose arms are off split")
    triggers: list[ExperimentTrigger]
    overall: ExperimentTrigger | None
    cumulative: list[CumulativeMonth]
    designs: list[DesignOut]


def experiments_of(
    store: Store,
    source: Source | None,
    playbook: Playbook | None,
    as_of: dt.date,
    horizon_days: str,
    effect: str,
) -> Experiments:
    """The experiments as of the server's day, with the query's horizon and effect checked
    (the page and the API answer the same errors)."""
    if playbook is None or source is None:
        raise NotFoundError(
            "this server has no playbook and source to compare arms in",
            fix="start headroom serve with the source and --playbook",
        )
    try:
        days = int(horizon_days)
    except ValueError:
        raise UsageError(
            f"horizon_days {horizon_days!r} is not a whole number of days", fix="e.g. 90"
        ) from None
    try:
        share = float(effect)
    except ValueError:
        raise UsageError(f"effect {effect!r} is not a number", fix="e.g. 0.05") from None
    return experiments(playbook, store.plays(), source, as_of, days, share, texts(store))


router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])


@router.get("")
def get_experiments(
    person: Asker,
    store: StoreDep,
    source: SourceDep,
    playbook: PlaybookDep,
    as_of: AsOfDep,
    horizon_days: str = Query("90", description="days after a play its expansion counts in"),
    effect: str = Query("0.05", description="the uplift in expansion rate to detect"),
) -> ExperimentsOut:
    """Each holdout trigger's treated against held-out accounts: expansion rates, uplift with
    its 95% interval, p-value, incremental expansion ARR, the sample-ratio check, and the
    incremental ARR of the accounts drawn by the end of each month."""
    result = experiments_of(store, source, playbook, as_of, horizon_days, effect)
    return ExperimentsOut.model_validate(result.to_dict())

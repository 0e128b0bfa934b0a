"""The JSON API of stored runs and backtests under ``/api/v1/runs``: list them, read one with its
result, and start a backtest (admins and managers), as the Backtest page does. Errors answer
with the one JSON shape."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from headroom.plays import runs
from headroom.usecases import backtest as backtests
from headroom.web.api_plays import Asker
from headroom.web.parts import PlaybookDep, SourceDep, StoreDep
from headroom.web.playbook_pages import start_backtest


class RunOut(BaseModel):
    id: int
    kind: Literal["run", "backtest"]
    status: Literal["running", "finished", "failed"]
    started_at: dt.datetime
    finished_at: dt.datetime | None
    started_by: str = Field(description="the login that started it, or cli")
    source: str | None
    as_of: dt.date | None = Field(description="a run's day")
    start: dt.date | None = Field(description="a backtest's first day replayed")
    end: dt.date | None = Field(description="a backtest's last day replayed")
    horizon_days: int | None
    sweep: str | None = Field(description="the threshold sweep asked, as --sweep takes it")
    playbook_version: str
    plays_fired: int | None = Field(
        description="a run's plays; a backtest's firings of all triggers together"
    )
    decisions: int | None
    error: str | None = Field(description="what went wrong, when it failed")


class RunDetail(RunOut):
    result: dict[str, Any] | None = Field(
        description="a backtest: as headroom backtest --format json prints it (triggers, "
        "by_segment, by_horizon), and sweep (trigger, number, rows) when one was asked; a run: "
        "per trigger, the plays fired and the skips by reason"
    )


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["backtest"] = "backtest"
    start: dt.date = Field(description="the first day replayed")
    end: dt.date = Field(description="the last day replayed")
    horizon_days: int = Field(default=90, ge=1, le=runs.MAX_HORIZON_DAYS)
    sweep: str | None = Field(
        default=None,
        max_length=200,
        description="TRIGGER.threshold=START:STOP:STEP, as headroom backtest --sweep takes it",
    )


def run_out(run: runs.RunInfo) -> RunOut:
    """A run as the API answers it in lists (its fields by name; the result left out)."""
    return RunOut.model_validate(run, from_attributes=True)


router = APIRouter(prefix="/api/v1", tags=["runs"])


@router.get("/runs")
def list_runs(
    store: StoreDep,
    person: Asker,
    response: Response,
    kind: Literal["run", "backtest"] | None = None,
    status: Literal["running", "finished", "failed"] | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31 - 1),
) -> list[RunOut]:
    """Runs of the playbook and backtests, newest first, without their results; ``limit``
    of them from ``offset`` (the whole count in the ``X-Total-Count`` header)."""
    found, total = runs.list_runs(store, kind, status, limit, offset)
    response.headers["x-total-count"] = str(total)
    return [run_out(r) for r in found]


@router.get("/runs/{run_id}")
def get_run(store: StoreDep, person: Asker, run_id: int = Path(ge=1, le=2**31 - 1)) -> RunDetail:
    """One run or backtest, with its result."""
    run = runs.get_run(store, run_id)
    return RunDetail.model_validate(run, from_attributes=True)


@router.post("/runs", status_code=202)
async def start(
    store: StoreDep, source: SourceDep, playbook: PlaybookDep, person: Asker, body: BacktestIn
) -> RunOut:
    """Start a backtest of the server's playbook on its source (admins and managers; one
    at a time). It runs in the background: read it back with ``GET /runs/{id}`` until its
    status is finished or failed."""
    ask = backtests.BacktestAsk(body.start, body.end, body.horizon_days, body.sweep)
    run = await run_in_threadpool(start_backtest, store, person, source, playbook, ask)
    return run_out(run)

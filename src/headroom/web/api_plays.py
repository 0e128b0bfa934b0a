"""The JSON API under ``/api/v1``: the queue's plays, outcomes and assignment, with the pages'
permissions (:mod:`headroom.plays.queue`). Errors answer with the one JSON shape."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from headroom.plays import queue
from headroom.plays.view import PlayView
from headroom.store.database import jsonable
from headroom.store.models import Play
from headroom.users import Person
from headroom.web.auth import api_user
from headroom.web.parts import (
    AsOfDep,
    PlaybookDep,
    SourceDep,
    StoreDep,
    ViewsDep,
    account_views,
    served,
)


@dataclass(frozen=True)
class PlayOut(PlayView):
    """A play as the API gives it: its one shape (:class:`~headroom.plays.view.PlayView`, as the
    command line prints it), and how near its deadline is."""

    badge: queue.Badge | None
    expected_mrr: float | None = Field(
        None, description="offer size x chance of winning it (with sort=value, else null)"
    )


class UsageOut(BaseModel):
    metric: str
    limit: float | None = Field(description="the plan's limit in force on the as-of day")
    kind: str | None = Field(description="gauge or per_cycle")
    status: str | None = Field(
        description="projected, reached, not_growing, not_within_a_year, too_little_history"
    )
    days_to_limit: float | None = Field(description="from the as-of day, on the trend")
    projected_on: dt.date | None
    likely_from: dt.date | None = Field(description="the 80% interval's earliest day")
    likely_until: dt.date | None = Field(description="its latest (null: maybe never)")
    points: list[tuple[dt.date, float]] = Field(description="the charted days' values")


class AccountOut(BaseModel):
    account_id: str
    as_of: dt.date
    account: dict[str, Any] = Field(description="the accounts table's row")
    facts: dict[str, Any] = Field(description="segment, health, tier, MRR, seats, renewal ...")
    usage: list[UsageOut]
    seat_utilisation: list[tuple[dt.date, float]]
    plays: list[PlayOut]


class Me(BaseModel):
    login: str
    role: str
    owner: str
    sees_everything: bool
    may_see_all: bool


class OutcomeIn(BaseModel):
    outcome: Literal["contacted", "won", "lost", "declined"]
    amount_mrr: Decimal | None = Field(default=None, description="added MRR, for won")
    on: dt.date | None = Field(default=None, description="the day it happened; today if left out")


class AssignIn(BaseModel):
    owner: str = Field(min_length=1, max_length=200)


def play_out(play: Play, now: dt.datetime, value: float | None = None) -> PlayOut:
    """A kept play in its one shape (:class:`~headroom.plays.view.PlayView`), with its badge
    (and its expected value, when the queue was ordered by it)."""
    return PlayOut(**PlayView.of(play).to_dict(), badge=queue.badge(play, now), expected_mrr=value)


def current(request: Request) -> Person:
    """Who is asking (a dependency: settled before the body is even validated)."""
    return api_user(served(request).store, request)


Asker = Annotated[Person, Depends(current)]


router = APIRouter(prefix="/api/v1", tags=["api"])


@router.get("/me")
def me(p: Asker) -> Me:
    """Who the token or session is for."""
    return Me(
        login=p.login, role=p.role, owner=p.owner, sees_everything=p.sees_everything,
        may_see_all=p.may_see_all,
    )  # fmt: skip


@router.get("/plays")
def plays(
    store: StoreDep,
    source: SourceDep,
    playbook: PlaybookDep,
    person: Asker,
    response: Response,
    scope: Literal["mine", "all"] | None = Query(None, description="default: your role's"),
    owner: str | None = Query(None, max_length=200),
    trigger: str | None = Query(None, max_length=100),
    due: Literal["overdue", "soon"] | None = None,
    segment: str | None = Query(None, max_length=100),
    sort: Literal["priority", "value"] = Query(
        "priority", description="value: the most expected MRR first (needs a playbook)"
    ),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31 - 1),
) -> list[PlayOut]:
    """The open plays, highest priority first, then soonest due (``sort=value``: the most
    expected value first); ``limit`` of them from ``offset`` (the whole count in the
    ``X-Total-Count`` header)."""
    now = dt.datetime.now(dt.UTC)
    filters = queue.Filters(scope, owner, trigger, due, segment)
    worth = queue.order_values(store, source, playbook, sort)
    entries, total = queue.open_queue(store, person, filters, now, limit, offset, worth)
    response.headers["x-total-count"] = str(total)
    return [play_out(e.play, now, e.value) for e in entries]


@router.get("/plays/{play_id}")
def play(store: StoreDep, person: Asker, play_id: str) -> PlayOut:
    """One play, open or closed."""
    return play_out(queue.get_play(store, person, play_id), dt.datetime.now(dt.UTC))


@router.post("/plays/{play_id}/outcome")
async def outcome(store: StoreDep, person: Asker, play_id: str, body: OutcomeIn) -> PlayOut:
    """Record what came of a play (won with the added MRR, lost, declined, contacted)."""

    def do() -> PlayOut:
        done = queue.record_outcome(store, person, play_id, body.outcome, body.amount_mrr, body.on)
        return play_out(done, dt.datetime.now(dt.UTC))

    return await run_in_threadpool(do)


@router.post("/plays/{play_id}/assign")
async def assign(store: StoreDep, person: Asker, play_id: str, body: AssignIn) -> PlayOut:
    """Give an open play to another owner (admins and managers)."""

    def do() -> PlayOut:
        done = queue.assign(store, person, play_id, body.owner)
        return play_out(done, dt.datetime.now(dt.UTC))

    return await run_in_threadpool(do)


@router.get("/accounts/{account_id}")
def account(
    store: StoreDep, views: ViewsDep, as_of: AsOfDep, person: Asker, account_id: str
) -> AccountOut:
    """One account as its page shows it: the facts on the as-of day, each usage metric
    against its plan limit with the projected day it is reached, seat utilisation over
    time, and its plays."""
    view = account_views(views).view(account_id, as_of)
    plays = queue.account_plays(store, account_id)
    queue.check_account(person, view.account, plays)
    now = dt.datetime.now(dt.UTC)
    return AccountOut(
        account_id=view.account_id,
        as_of=view.as_of,
        account=jsonable(view.account),
        facts=jsonable(view.facts),
        usage=[
            UsageOut(
                metric=u.metric, limit=u.limit, kind=u.kind, status=u.status,
                days_to_limit=u.days, projected_on=u.on(u.days, view.as_of),
                likely_from=u.on(u.low, view.as_of), likely_until=u.on(u.high, view.as_of),
                points=u.points,
            )
            for u in view.usage
        ],
        seat_utilisation=view.utilisation,
        plays=[play_out(p, now) for p in plays],
    )  # fmt: skip

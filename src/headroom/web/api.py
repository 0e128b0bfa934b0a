"""The JSON API under ``/api/v1``: the queue's plays, outcomes and assignment, with the pages'
permissions (:mod:`headroom.plays.queue`). Errors answer with the one JSON shape."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from headroom.plays import queue
from headroom.plays.models import Play
from headroom.plays.store import Store
from headroom.triggers.evidence import describe
from headroom.users import Person
from headroom.web.auth import api_user


class PlayOut(BaseModel):
    play_id: str
    account_id: str
    trigger: str
    fired_on: dt.date
    due_at: str
    sla_due_at: str | None
    badge: Literal["overdue", "soon"] | None
    owner: str
    role: str | None
    offer: str
    priority: int
    status: str
    outcome_on: dt.date | None
    amount_mrr: float | None
    evidence: dict[str, Any]
    why: str


class Me(BaseModel):
    login: str
    role: str
    owner: str
    sees_everything: bool


class OutcomeIn(BaseModel):
    outcome: Literal["contacted", "won", "lost", "declined"]
    amount_mrr: Decimal | None = Field(default=None, description="added MRR, for won")
    on: dt.date | None = Field(default=None, description="the day it happened; today if left out")


class AssignIn(BaseModel):
    owner: str = Field(min_length=1, max_length=200)


def play_out(play: Play, now: dt.datetime) -> PlayOut:
    return PlayOut(
        play_id=play.play_id,
        account_id=play.account_id,
        trigger=play.trigger,
        fired_on=play.fired_on,
        due_at=play.due_at,
        sla_due_at=play.sla_due_at,
        badge=queue.badge(play, now),  # type: ignore[arg-type]
        owner=play.owner,
        role=play.role,
        offer=play.offer,
        priority=play.priority,
        status=play.status,
        outcome_on=play.outcome_on,
        amount_mrr=float(play.amount_mrr) if play.amount_mrr is not None else None,
        evidence=play.evidence,
        why=describe(play.evidence),
    )


def current(request: Request) -> Person:
    """Who is asking (a dependency: settled before the body is even validated)."""
    store = request.app.state.store
    assert isinstance(store, Store)
    return api_user(store, request)


Asker = Annotated[Person, Depends(current)]


def router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["api"])

    @api.get("/me")
    def me(p: Asker) -> Me:
        """Who the token or session is for."""
        return Me(login=p.login, role=p.role, owner=p.owner, sees_everything=p.sees_everything)

    @api.get("/plays")
    def plays(
        person: Asker,
        response: Response,
        scope: Literal["mine", "all"] | None = Query(None, description="default: your role's"),
        owner: str | None = Query(None, max_length=200),
        trigger: str | None = Query(None, max_length=100),
        due: Literal["overdue", "soon"] | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=2**31 - 1),
    ) -> list[PlayOut]:
        """The open plays, highest priority first, then soonest due; ``limit`` of them from
        ``offset`` (the whole count in the ``X-Total-Count`` header)."""
        now = dt.datetime.now(dt.UTC)
        filters = queue.Filters(scope, owner, trigger, due)
        entries, total = queue.open_queue(store, person, filters, now, limit, offset)
        response.headers["x-total-count"] = str(total)
        return [play_out(e.play, now) for e in entries]

    @api.get("/plays/{play_id}")
    def play(person: Asker, play_id: str) -> PlayOut:
        """One play, open or closed."""
        return play_out(queue.get_play(store, person, play_id), dt.datetime.now(dt.UTC))

    @api.post("/plays/{play_id}/outcome")
    async def outcome(person: Asker, play_id: str, body: OutcomeIn) -> PlayOut:
        """Record what came of a play (won with the added MRR, lost, declined, contacted)."""

        def do() -> PlayOut:
            done = queue.record_outcome(
                store, person, play_id, body.outcome, body.amount_mrr, body.on
            )
            return play_out(done, dt.datetime.now(dt.UTC))

        return await run_in_threadpool(do)

    @api.post("/plays/{play_id}/assign")
    async def assign(person: Asker, play_id: str, body: AssignIn) -> PlayOut:
        """Give an open play to another owner (admins and managers)."""

        def do() -> PlayOut:
            done = queue.assign(store, person, play_id, body.owner)
            return play_out(done, dt.datetime.now(dt.UTC))

        return await run_in_threadpool(do)

    return api

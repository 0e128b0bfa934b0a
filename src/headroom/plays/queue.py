"""The expansion queue: open plays ranked by priority and due time (or by expected value,
given each play's: see :func:`headroom.plays.pipeline.values`), what each person may see and do
with them. The web pages and the JSON API both read it.

Who may do what: admins and managers see and act on every play and assign them; a CSM or an
AE sees their own plays (those whose owner is theirs) by default, may switch to all of them to
look, and acts (records outcomes, edits drafts) on their own only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from headroom.errors import ForbiddenError, NotFoundError, UsageError
from headroom.store.database import OPEN, Store
from headroom.store.models import Decision, Play
from headroom.users import Person

if TYPE_CHECKING:  # the engine loads only when a value is asked for
    from headroom.playbook.model import Playbook
    from headroom.sources import Source

#: A play is "due soon" when its SLA (or due time) ends within this many hours.
SOON_HOURS = 24
SCOPES = ("mine", "all")
DUE = ("overdue", "soon")
#: How the queue can be ordered: priority then due time, or expected value (offer size x the
#: chance of winning it: the learned readiness where the play fired on it) first.
ORDERS = ("priority", "value")


@dataclass(frozen=True)
class Filters:
    """What the queue is narrowed to; ``scope`` None means the person's default."""

    scope: str | None = None
    owner: str | None = None
    trigger: str | None = None
    due: str | None = None
    segment: str | None = None

    def check(self) -> None:
        if self.scope is not None and self.scope not in SCOPES:
            raise UsageError(f"scope {self.scope!r} is not a scope", fix="use mine or all")
        if self.due is not None and self.due not in DUE:
            raise UsageError(f"due {self.due!r} is not a due filter", fix="use overdue or soon")


@dataclass(frozen=True)
class Entry:
    """One play in the queue, with its SLA badge (``overdue``, ``soon`` or None) and, when the
    queue is ordered by it, its expected value (MRR)."""

    play: Play
    deadline: dt.datetime
    badge: str | None
    value: float | None = None


def order_values(
    store: Store, source: Source | None, playbook: Playbook | None, order: str
) -> dict[str, float] | None:
    """Each open play's expected value by its id when the queue is to be ordered by ``order``
    ``value`` (as the pipeline values it: offer size x win rate, or x the readiness it fired
    on); None for ``priority``."""
    if order not in ORDERS:
        raise UsageError(f"sort {order!r} is not an order", fix="use priority or value")
    if order != "value":
        return None
    if playbook is None:
        raise NotFoundError(
            "this server has no playbook to value plays by",
            fix="start headroom serve with --playbook, or sort by priority",
        )
    from headroom.plays.pipeline import values

    return values(playbook, store.plays(), source)


def default_scope(person: Person) -> str:
    return "all" if person.sees_everything else "mine"


def deadline(play: Play) -> dt.datetime:
    """When the play must be acted on: its SLA if routing set one, else its due time."""
    return dt.datetime.fromisoformat(play.sla_due_at or play.due_at)


#: How close a play is to its deadline, when close enough to show.
Badge = Literal["overdue", "soon"]


def badge(play: Play, now: dt.datetime) -> Badge | None:
    """``overdue`` past its deadline, ``soon`` within SOON_HOURS of it, else None."""
    end = deadline(play)
    if end < now:
        return "overdue"
    if end < now + dt.timedelta(hours=SOON_HOURS):
        return "soon"
    return None


def _selected(person: Person, filters: Filters, now: dt.datetime) -> Select[Any]:
    """The open plays ``person`` asked for, as a query (the database filters and orders)."""
    filters.check()
    scope = filters.scope or default_scope(person)
    if scope == "all" and not person.may_see_all:
        raise ForbiddenError(
            f"a {person.role} sees only their own plays here",
            fix=f"ask an admin to add {person.role} to HEADROOM_SWITCH_TO_ALL",
        )
    q = select(Play).where(Play.status.in_(OPEN))
    if scope == "mine":
        q = q.where(Play.owner == person.owner)
    if filters.owner:
        q = q.where(Play.owner == filters.owner)
    if filters.trigger:
        q = q.where(Play.trigger == filters.trigger)
    if filters.segment:
        q = q.where(Play.segment == filters.segment)
    if filters.due == "overdue":
        q = q.where(Play.deadline_at < now)
    elif filters.due == "soon":  # due within a day, overdue included
        q = q.where(Play.deadline_at < now + dt.timedelta(hours=SOON_HOURS))
    return q


@dataclass(frozen=True)
class Choices:
    """What the queue's filters can be set to: the values its open plays have."""

    owners: list[str]
    triggers: list[str]
    segments: list[str]


def choices(store: Store) -> Choices:
    """The owners, triggers and segments of the open plays (for the filters' lists)."""

    def distinct(s: Session, column: Any) -> list[str]:
        q = select(column).where(Play.status.in_(OPEN), column.is_not(None)).distinct()
        return sorted(s.scalars(q))

    with store.session() as s:
        return Choices(
            distinct(s, Play.owner), distinct(s, Play.trigger), distinct(s, Play.segment)
        )


def check_account(person: Person, account: dict[str, Any], plays: Sequence[Play]) -> None:
    """Refuse an account that is not ``person``'s when their role may not see everyone's:
    theirs when they are its CSM or AE, or own one of its plays."""
    if person.may_see_all:
        return
    mine = person.owner in (account.get("csm"), account.get("ae"))
    if not mine and not any(p.owner == person.owner for p in plays):
        raise ForbiddenError(
            f"account {account.get('account_id')!r} is not yours, and a {person.role} sees "
            "only their own accounts here",
            fix=f"ask an admin to add {person.role} to HEADROOM_SWITCH_TO_ALL",
        )


def open_queue(
    store: Store,
    person: Person,
    filters: Filters,
    now: dt.datetime,
    limit: int | None = None,
    offset: int = 0,
    values: Mapping[str, float] | None = None,
) -> tuple[list[Entry], int]:
    """The open plays ``person`` asked for, highest priority first, then soonest due (with
    ``values``, each play's expected value by its id: the most valuable first): ``limit`` of
    them from ``offset``, and how many there are in all."""
    q = _selected(person, filters, now)
    with store.session() as s:
        return _entries(s, q, now, limit, offset, values), _count(s, q)


def _count(s: Session, q: Select[Any]) -> int:
    return int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)


def _entries(
    s: Session,
    q: Select[Any],
    now: dt.datetime,
    limit: int | None,
    offset: int,
    values: Mapping[str, float] | None = None,
) -> list[Entry]:
    ordered = q.order_by(Play.priority, Play.deadline_at, Play.play_id)
    if values is None:
        page = ordered.offset(offset)
        if limit is not None:
            page = page.limit(limit)
        return [Entry(p, deadline(p), badge(p, now)) for p in s.scalars(page)]
    # the values are worked out beside the database (from learned win rates and the source), so
    # the open plays asked for are ordered here: a queue holds hundreds, not millions
    plays = list(s.scalars(ordered))  # priority then due time break ties in value
    plays.sort(key=lambda p: -values.get(p.play_id, 0.0))
    end = None if limit is None else offset + limit
    return [Entry(p, deadline(p), badge(p, now), values.get(p.play_id)) for p in plays[offset:end]]


#: Plays per page of the queue.
PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    """One page of the queue: ``entries`` of ``total``, page ``number`` of ``pages``."""

    entries: list[Entry]
    total: int
    number: int
    pages: int


def queue_page(
    store: Store, person: Person, filters: Filters, now: dt.datetime, number: int,
    size: int = PAGE_SIZE, values: Mapping[str, float] | None = None,
) -> Page:  # fmt: skip
    """Page ``number`` (from 1; past the last page, the last page) of the queue (``values``:
    ordered by them, as :func:`open_queue`)."""
    q = _selected(person, filters, now)
    with store.session() as s:
        total = _count(s, q)
        pages = max(1, -(-total // size))
        number = min(max(number, 1), pages)
        return Page(_entries(s, q, now, size, (number - 1) * size, values), total, number, pages)


def may_act(person: Person, play: Play) -> bool:
    return person.sees_everything or play.owner == person.owner


def _play(s: Session, play_id: str) -> Play:
    play = s.get(Play, play_id)
    if play is None:
        raise NotFoundError(f"no play {play_id!r}", fix="the queue lists the open plays")
    return play


def get_play(store: Store, person: Person, play_id: str) -> Play:
    """A play ``person`` may see: any, where their role may switch to everyone's plays; else
    their own. Another's is not found, as a play that does not exist: an answer tells
    nothing of plays that are not theirs."""
    with store.session() as s:
        play = _play(s, play_id)
    if not person.may_see_all and play.owner != person.owner:
        raise NotFoundError(f"no play {play_id!r}", fix="the queue lists the open plays")
    return play


def _acting(store: Store, person: Person, play_id: str) -> Play:
    play = get_play(store, person, play_id)
    if not may_act(person, play):
        raise ForbiddenError(
            f"play {play_id} is {play.owner}'s, not yours",
            fix="ask a manager to reassign it to you",
        )
    return play


def record_outcome(
    store: Store,
    person: Person,
    play_id: str,
    outcome: str,
    amount_mrr: Decimal | None = None,
    on: dt.date | None = None,
) -> Play:
    """Record an outcome for a play ``person`` may act on."""
    _acting(store, person, play_id)
    return store.record(play_id, outcome, amount_mrr, on)


def assign(store: Store, person: Person, play_id: str, owner: str) -> Play:
    """Give an open play to ``owner`` (admins and managers only)."""
    if not person.sees_everything:
        raise ForbiddenError(
            f"a {person.role} cannot assign plays", fix="ask a manager or an admin"
        )
    owner = owner.strip()
    if not owner or len(owner) > 200:
        raise UsageError("the new owner is empty or over 200 characters", fix="name a person")
    with store.session() as s:
        play = _play(s, play_id)
        if play.status not in OPEN:
            raise UsageError(f"play {play_id} is {play.status}", fix="only open plays are assigned")
        play.owner = owner
        return play


def account_plays(store: Store, account_id: str) -> list[Play]:
    """The account's plays, newest first."""
    with store.session() as s:
        q = select(Play).where(Play.account_id == account_id)
        return list(s.scalars(q.order_by(Play.fired_on.desc(), Play.play_id)))


def account_decisions(store: Store, account_id: str, limit: int = 100) -> list[Decision]:
    """What the runs decided for the account (fired, or skipped and why), newest first."""
    with store.session() as s:
        q = select(Decision).where(Decision.account_id == account_id)
        q = q.order_by(Decision.as_of.desc(), Decision.trigger).limit(limit)
        return list(s.scalars(q))

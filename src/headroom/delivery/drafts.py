"""Drafts held for approval: a target with ``approve: true`` in ``delivery.yaml`` has its
messages written to the outbox as drafts, which the worker does not send. The play's owner (or a
manager) edits the subject and body and approves; from then on it is an ordinary queued
delivery, sent with the text as approved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from headroom.errors import ForbiddenError, NotFoundError, UsageError
from headroom.plays.queue import may_act
from headroom.store.database import Store
from headroom.store.models import Delivery, Play
from headroom.users import Person

#: The longest subject and body a draft may be edited to (the outbox columns' sizes).
MAX_SUBJECT = 500
MAX_BODY = 50_000


def for_plays(store: Store, play_ids: Sequence[str]) -> list[Delivery]:
    """The deliveries of these plays (drafts and the rest), oldest first."""
    if not play_ids:
        return []
    with store.session() as s:
        q = select(Delivery).where(Delivery.play_id.in_(list(play_ids)))
        return list(s.scalars(q.order_by(Delivery.created_at, Delivery.delivery_id)))


def _held(s: Session, person: Person, delivery_id: str) -> Delivery:
    d = s.get(Delivery, delivery_id)
    if d is None:
        raise NotFoundError(f"no delivery {delivery_id!r}", fix="the account page lists them")
    play = s.get(Play, d.play_id)
    if play is not None and not may_act(person, play):
        raise ForbiddenError(
            f"the draft is for {play.owner}'s play, not yours", fix="ask its owner or a manager"
        )
    if d.status != "draft":
        raise UsageError(
            f"delivery {delivery_id} is {d.status}, not a draft",
            fix="only drafts held for approval can be edited or approved",
        )
    return d


def edit(store: Store, person: Person, delivery_id: str, subject: str, body: str) -> Delivery:
    """Change a held draft's subject and body."""
    subject, body = subject.strip(), body.strip()
    if not subject or len(subject) > MAX_SUBJECT:
        raise UsageError(
            f"the subject has {len(subject)} characters",
            fix=f"write one of 1 to {MAX_SUBJECT} characters",
        )
    if not body or len(body) > MAX_BODY:
        raise UsageError(
            f"the message has {len(body)} characters", fix=f"write 1 to {MAX_BODY:,} characters"
        )
    with store.session() as s:
        d = _held(s, person, delivery_id)
        d.subject, d.body = subject, body
        return d


def approve(
    store: Store, person: Person, delivery_id: str, now: dt.datetime | None = None
) -> Delivery:
    """Release a held draft to be sent as it now reads."""
    with store.session() as s:
        d = _held(s, person, delivery_id)
        d.status = "queued"
        d.next_attempt_at = now or dt.datetime.now(dt.UTC)
        return d

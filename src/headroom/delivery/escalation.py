"""SLA escalation: a play still open once its SLA has passed alerts the routing's ``escalate``
names, once.

The routing rules a play matched set its SLA (the tightest) and who hears if nobody acts in
time (``escalate: [manager]``); both are stored with the play. The worker looks for overdue
plays before each batch and queues an alert per name that ``delivery.yaml`` knows, marking the
play escalated in the same transaction, so a play escalates once however many workers run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import select, update

from headroom.delivery.config import Target
from headroom.delivery.outbox import play_fields, queued
from headroom.messages.templates import Message
from headroom.store.database import Store, delivery_row
from headroom.store.models import Delivery, Play
from headroom.triggers.evidence import describe


def _message(play: Play) -> Message:
    subject = f"Overdue: {play.trigger} for {play.account_id} (due by {play.sla_due_at})"
    body = (
        f"{play.trigger} fired for {play.account_id} on {play.fired_on.isoformat()} and was to "
        f"be acted on by {play.sla_due_at}; it has no outcome yet.\n"
        f"Owner: {play.owner}. Why: {describe(play.evidence)}.\n"
        f"Record what happened with: headroom plays record {play.play_id} --outcome ...\n"
    )
    return Message("alert", subject, body)


def overdue(store: Store, now: dt.datetime) -> list[Play]:
    """Open plays past their SLA that have not escalated yet."""
    with store.session() as s:
        plays = s.scalars(
            select(Play).where(
                Play.status == "open", Play.sla_due_at.is_not(None), Play.escalated_at.is_(None)
            )
        )
        return [
            p for p in plays if p.escalate and dt.datetime.fromisoformat(str(p.sla_due_at)) <= now
        ]


def escalate(store: Store, send: Mapping[str, Target], now: dt.datetime) -> int:
    """Queue the escalation alerts of every overdue play; the number of plays escalated."""
    late = overdue(store, now)
    done = 0
    for play in late:
        with store.session() as s:
            # Claim the play first: of two workers, one escalates it.
            claimed = s.execute(
                update(Play)
                .where(Play.play_id == play.play_id, Play.escalated_at.is_(None))
                .values(escalated_at=now)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                continue
            first = s.scalar(
                select(Delivery.payload).where(Delivery.play_id == play.play_id).limit(1)
            )
            account = dict((first or {}).get("account") or {"account_id": play.account_id})
            fields, message = play_fields(play), _message(play)
            for name in play.escalate:
                target = send.get(name)
                if target is not None:
                    q = queued(fields, account, f"escalate:{name}", target, message, now,
                               target=name, escalation=True)  # fmt: skip
                    s.add(delivery_row(q, now))
            done += 1
    return done

"""Plays and decisions as people and programs read them: one shape for the command line, the
HTTP API and the payloads deliveries carry, whether a run just drafted them or the state store
kept them.

>>> view = PlayView.of(draft)  # doctest: +SKIP
>>> view.to_dict()["status"]  # doctest: +SKIP
'open'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from headroom.store.models import Decision as DecisionRow
from headroom.store.models import Play
from headroom.triggers.decisions import Decision, PlayDraft
from headroom.triggers.evidence import describe


@dataclass(frozen=True)
class PlayView:
    """One play: what fired, for whom, who owns it, by when, why, and what became of it."""

    play_id: str
    account_id: str
    trigger: str
    fired_on: dt.date
    due_at: str
    owner: str
    role: str | None
    segment: str | None
    offer: str
    priority: int
    status: str
    outcome_on: dt.date | None
    amount_mrr: float | None
    playbook_version: str
    evidence: dict[str, Any]
    why: str
    notify: list[str]
    sla_due_at: str | None

    @classmethod
    def of(cls, play: Play | PlayDraft) -> PlayView:
        """A play a run drafted (open, no outcome yet) or one the store kept."""
        amount = play.amount_mrr if isinstance(play, Play) else None
        return cls(
            play_id=play.play_id,
            account_id=play.account_id,
            trigger=play.trigger,
            fired_on=play.fired_on,
            due_at=play.due_at,
            owner=play.owner,
            role=play.role or None,
            segment=play.segment,
            offer=play.offer,
            priority=play.priority,
            status=play.status if isinstance(play, Play) else "open",  # drafted: not yet kept
            outcome_on=play.outcome_on if isinstance(play, Play) else None,
            amount_mrr=float(amount) if amount is not None else None,
            playbook_version=play.playbook_version,
            evidence=dict(play.evidence),
            why=describe(play.evidence),
            notify=list(play.notify),
            sla_due_at=play.sla_due_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field, in this order (``evidence`` as the run wrote it)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def order(self) -> tuple[int, str, str, str]:
        """Where it is listed: highest priority first, then soonest due."""
        return (self.priority, self.due_at, self.account_id, self.trigger)


@dataclass(frozen=True)
class DecisionView:
    """One entry of the decision log: a play fired, or why not."""

    account_id: str
    trigger: str
    action: str  # fired | skipped
    reason: str | None = None
    until: dt.date | None = None
    play_id: str | None = None

    @classmethod
    def of(cls, decision: Decision | DecisionRow) -> DecisionView:
        if isinstance(decision, Decision):
            play_id = decision.play.play_id if decision.play else None
        else:
            play_id = decision.play_id
        return cls(
            account_id=decision.account_id,
            trigger=decision.trigger,
            action=decision.action,
            reason=decision.reason or None,
            until=decision.until,
            play_id=play_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields that apply (a fired play has no reason, a skip no play)."""
        return {
            f.name: value
            for f in dataclasses.fields(self)
            if (value := getattr(self, f.name)) is not None
        }

"""What the trigger engine decides, and what it decides from: a decision per account and
trigger, the play it drafts when one fires, and the history of earlier runs it is given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from headroom.sources import Source


@dataclass(frozen=True)
class PlayDraft:
    play_id: str
    account_id: str
    trigger: str
    fired_on: dt.date
    due_at: str
    owner: str
    offer: str
    priority: int
    evidence: dict[str, Any]
    playbook_version: str
    notify: tuple[str, ...] = ()  # from the playbook's routing rules that match
    sla_due_at: str | None = None  # the tightest SLA of those rules, from when it fired
    role: str = ""  # the owner rule's role (csm, ae, self_serve, ...); owner is the person
    segment: str | None = None  # the account's segment when it fired (the queue filters by it)
    escalate: tuple[str, ...] = ()  # who hears if it is still open once its SLA has passed
    #: With a holdout: the experiment the account was drawn in, and its arm (treated or
    #: held_out: a control, recorded like a play but never delivered nor queued)
    experiment: str | None = None
    arm: str | None = None


@dataclass(frozen=True)
class Decision:
    account_id: str
    trigger: str
    action: str  # fired | skipped | held_out (fired, and drawn into the trigger's holdout)
    reason: str | None = None  # not_in_stage, not_eligible, already_open, cooldown, suppressed
    until: dt.date | None = None
    play: PlayDraft | None = None


@dataclass
class History:
    """What the state store knows that a decision depends on (read before the run)."""

    open_plays: set[tuple[str, str]] = field(default_factory=set)  # (account, trigger)
    last_fired: dict[tuple[str, str], dt.date] = field(default_factory=dict)  # (account, group)
    declined_on: dict[str, dt.date] = field(default_factory=dict)  # account -> latest decline
    #: The state store's key for play ids (none: ids anyone can derive, for plays never kept)
    id_key: bytes = b""
    #: The arm each account was first given, by (experiment, account, trigger): kept for good
    arms: dict[tuple[str, str, str], str] = field(default_factory=dict)


def source_declines(source: Source, as_of: dt.date) -> dict[str, dt.date]:
    """Latest declined conversation per account in the source's outcomes, up to the day."""
    o = source.table("outcomes")
    d = o.filter((o.outcome == "declined") & (o.date <= as_of))
    last = d.group_by("account_id").aggregate(last=d.date.max()).to_pyarrow()
    return dict(zip(last["account_id"].to_pylist(), last["last"].to_pylist(), strict=True))


def play_id(account_id: str, trigger: str, fired_on: dt.date, key: bytes = b"") -> str:
    """Deterministic: the same account, trigger and day always make the same play. With the
    state store's ``key`` (every recorded play), nobody without it can derive the id: a
    play's id is no way into it.

    >>> play_id("acc_1", "seats", dt.date(2026, 3, 26))
    '07c54e7f8d5df357'
    """
    text = f"{account_id}|{trigger}|{fired_on}".encode()
    if key:
        return hmac.new(key, text, hashlib.sha256).hexdigest()[:32]
    return hashlib.sha256(text).hexdigest()[:16]

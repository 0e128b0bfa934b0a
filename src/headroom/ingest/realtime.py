"""Event-triggered plays, fired when the event arrives instead of at the next run.

A trigger is event-triggered when its condition counts an event (``events_<name>_<N>d``). An
accepted event of that name evaluates the playbook at once, for the event's account alone and
as of the day it arrived, with every accepted event included; the plays of those triggers are
recorded with their deliveries, and the worker sends them. The day's run later records the
same plays' decisions (same play ids: recorded once).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from headroom.delivery.config import DeliveryConfig
from headroom.delivery.outbox import outbox_for
from headroom.ingest.events import ingested
from headroom.ingest.segment import Event
from headroom.messages.templates import Templates
from headroom.playbook.model import Playbook
from headroom.plays import deciding
from headroom.sources import Source
from headroom.store.database import Store
from headroom.triggers.decisions import PlayDraft
from headroom.triggers.timing import counted_events


def event_triggers(playbook: Playbook) -> dict[str, set[str]]:
    """Per event name, the ids of the triggers whose condition counts it."""
    out: dict[str, set[str]] = {}
    for trigger, events in counted_events(playbook).items():
        for event in events:
            out.setdefault(event, set()).add(trigger)
    return out


@dataclass
class Reactor:
    """What fires plays on arriving events: the loaded source, the playbook, its templates and
    delivery settings, and the state store. One evaluation at a time (an engine connection is
    not shared across threads)."""

    source: Source
    playbook: Playbook
    templates: Templates
    delivery: DeliveryConfig | None
    store: Store

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.triggers = event_triggers(self.playbook)

    def react(self, events: Sequence[Event], now: dt.datetime) -> list[PlayDraft]:
        """Fire the event-triggered plays of newly accepted ``events``; the new plays."""
        hits = [e for e in events if e.event in self.triggers]
        if not hits:
            return []
        wanted = set().union(*(self.triggers[e.event] for e in hits))
        accounts = sorted({e.account_id for e in hits})
        day = now.astimezone(dt.UTC).date()
        book = self.playbook
        with self._lock:
            self.source.add_rows("events", ingested(self.store, accounts))
            decisions = deciding.decide(self.store, self.source, book, day, accounts)
            # held-out plays are recorded too (controls), and outbox_for sends none of them
            fired = [d for d in decisions if d.play is not None and d.trigger in wanted]
            outbox = outbox_for(self.source, book, self.templates, self.delivery, fired, now)
            plays = [d.play for d in fired if d.play is not None]
            # Inside the lock: two requests for one account must not race to record a play.
            return self.store.record_plays(plays, outbox, now)

"""Events arriving, whole: keep them, then fire the event-triggered plays they complete.

The events are committed before anything else happens, so that none is lost; the plays are
fired after, and if firing fails the events stay kept and the day's run fires the plays (it
records the same play ids). The ingest API parses and authenticates a call, then calls this.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from headroom.ingest.events import accept
from headroom.ingest.realtime import Reactor
from headroom.ingest.segment import Event
from headroom.store.database import Store

log = logging.getLogger("headroom.serve")


@dataclass(frozen=True)
class Received:
    """What came of a call's events: how many were new, how many already kept, and the ids of
    the plays they fired."""

    accepted: int
    duplicates: int
    plays: list[str]


def react_to_events(
    store: Store, reactor: Reactor | None, events: Sequence[Event], now: dt.datetime
) -> Received:
    """Keep ``events`` (each once: a repeated message id is a duplicate) and fire the plays the
    new ones complete (none without a ``reactor``: the server has no playbook to react with)."""
    new = accept(store, events, now)  # committed: from here nothing is lost
    fired: list[str] = []
    if reactor is not None and new:
        try:
            fired = [p.play_id for p in reactor.react(new, now)]
        except Exception:  # the events are kept; the day's run will fire the plays
            log.exception("event-triggered plays failed; the next run will fire them")
    return Received(len(new), len(events) - len(new), fired)

"""Plays written straight into a state store, for tests of what reads them."""

from __future__ import annotations

import datetime as dt

from headroom.store.database import Store
from headroom.store.models import Play


def add_play(store: Store, play_id: str, priority: int = 2) -> None:
    with store.session() as s:
        s.add(
            Play(
                play_id=play_id,
                account_id="acc_1",
                trigger="seat_expansion_proactive",
                fired_on=dt.date(2026, 3, 9),
                due_at="2026-03-10T10:00:00+01:00",
                owner="ana@example.com",
                offer="seats",
                priority=priority,
                evidence={"seat_utilisation": 0.9, "days_above": 7},
                playbook_version="abc123",
                status="open",
                created_at=dt.datetime(2026, 3, 9, 23, 0, tzinfo=dt.UTC),
            )
        )

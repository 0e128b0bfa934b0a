"""Accepted events in the state store: written once per messageId, read back for the engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from headroom.ingest.segment import Event
from headroom.store.database import Store
from headroom.store.models import IngestedEvent

#: The events table's columns, as the ingest API fills them.
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("account_id", pa.string()),
        ("user_id", pa.string()),
        ("event", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
    ]
)


def accept(store: Store, events: Sequence[Event], now: dt.datetime) -> list[Event]:
    """Write the events not seen before (by messageId), in one transaction: committed when this
    returns, so an accepted event survives any restart. The new ones are returned."""
    if not events:
        return []
    unique = list({e.message_id: e for e in events}.values())
    ids = [e.message_id for e in unique]
    for _ in range(3):  # a concurrent request may write the same id between read and write
        try:
            with store.session() as s:
                seen = set(
                    s.scalars(
                        select(IngestedEvent.message_id).where(IngestedEvent.message_id.in_(ids))
                    )
                )
                new = [e for e in unique if e.message_id not in seen]
                s.add_all(
                    IngestedEvent(
                        message_id=e.message_id,
                        account_id=e.account_id,
                        user_id=e.user_id,
                        event=e.event,
                        timestamp=e.timestamp,
                        properties=e.properties,
                        received_at=now,
                    )
                    for e in new
                )
            return new
        except IntegrityError:
            continue
    raise RuntimeError("ingest: the same events were written concurrently three times")


def ingested(store: Store, accounts: Sequence[str] | None = None) -> pa.Table:
    """Every accepted event (of ``accounts``, when given) as rows of the events table."""
    with store.session() as s:
        q = select(
            IngestedEvent.message_id,
            IngestedEvent.account_id,
            IngestedEvent.user_id,
            IngestedEvent.event,
            IngestedEvent.timestamp,
        ).order_by(IngestedEvent.timestamp, IngestedEvent.message_id)
        if accounts is not None:
            q = q.where(IngestedEvent.account_id.in_(list(accounts)))
        rows = s.execute(q).all()
    utc = [t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t for *_, t in rows]
    columns: list[list[object]] = [[r[i] for r in rows] for i in range(4)]
    return pa.table(
        [*(pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=False)),
         pa.array(utc, type=SCHEMA.field("timestamp").type)],
        schema=SCHEMA,
    )  # fmt: skip

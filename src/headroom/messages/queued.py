"""A message addressed: what the outbox holds until a channel delivers it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headroom.messages.templates import Message


@dataclass(frozen=True)
class Queued:
    """A delivery to write: one message of one play to one target."""

    delivery_id: str
    play_id: str
    target: str
    channel: str
    recipient: str | None
    message: Message
    payload: dict[str, Any] = field(default_factory=dict)
    #: Held as a draft until the play's owner approves it (see :mod:`headroom.delivery.drafts`).
    approve: bool = False

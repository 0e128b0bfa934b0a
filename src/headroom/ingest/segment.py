"""Segment's HTTP tracking API, as far as headroom reads it: ``track`` calls, one at a time
(``POST /v1/track``) or in a ``batch`` (``POST /v1/batch``), from Segment's own libraries.

A track call becomes an event of the ``events`` table: ``messageId`` is its id (and makes a
retried call harmless), ``event`` its name, ``timestamp`` its time (``originalTimestamp``, or when
it arrived, if it has none), ``userId`` (or ``anonymousId``) its user, and the account is the
first of ``properties.account_id``, ``context.groupId`` and ``groupId`` (B2B events carry the
account they happened in). Other calls in a batch (identify, group, page, ...) are accepted and
not kept. Limits are Segment's: 32 KB a call, 500 KB a batch.

A bad call anywhere in a batch refuses the whole batch, saying which call and what is wrong;
nothing of it is kept.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from headroom.errors import HeadroomError

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024


class IngestError(HeadroomError):
    """A request the ingest API refuses (HTTP 400, the one JSON error shape)."""

    code = "bad_event"


class PayloadTooLargeError(IngestError):
    code = "payload_too_large"


@dataclass(frozen=True)
class Event:
    """One accepted track call, as a row of the events table."""

    message_id: str
    account_id: str
    event: str
    timestamp: dt.datetime
    user_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | int):
        return str(value)
    return None


def _time(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise IngestError(
            f"{where}: {value!r} is not an ISO 8601 time",
            fix="send e.g. 2026-11-24T16:03:00Z (Segment's libraries do)",
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def parse_body(raw: bytes, limit: int) -> dict[str, Any]:
    """The JSON object of a request body, within ``limit`` bytes."""
    if len(raw) > limit:
        raise PayloadTooLargeError(
            f"the request body is {len(raw):,} bytes, over the limit of {limit:,}",
            fix="send at most 32 KB per call and 500 KB per batch, as Segment's libraries do",
        )
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IngestError(
            f"the request body is not JSON ({exc})", fix="send a JSON object"
        ) from None
    if not isinstance(body, dict):
        raise IngestError("the request body is not a JSON object", fix="send a JSON object")
    return body


def track(call: Any, where: str, received: dt.datetime) -> Event | None:
    """A track call as an event (None for the other kinds of call, which are not kept)."""
    if not isinstance(call, dict):
        raise IngestError(f"{where} is not a JSON object", fix="send each call as an object")
    kind = call.get("type", "track")
    if kind != "track":
        return None
    if len(json.dumps(call, default=str).encode()) > MAX_CALL_BYTES:
        raise PayloadTooLargeError(
            f"{where} is over the limit of 32 KB for one call", fix="send fewer properties"
        )
    message_id = _text(call.get("messageId"))
    if message_id is None:
        raise IngestError(
            f"{where} has no messageId",
            fix="give every call a unique messageId (Segment's libraries do)",
        )
    event = _text(call.get("event"))
    if event is None:
        raise IngestError(f"{where}.event is missing", fix="name the event, e.g. 'invite_sent'")
    properties = call.get("properties") or {}
    context = call.get("context") or {}
    if not isinstance(properties, dict) or not isinstance(context, dict):
        raise IngestError(
            f"{where}: properties and context must be JSON objects", fix="send objects"
        )
    account = (
        _text(properties.get("account_id"))
        or _text(context.get("groupId"))
        or _text(call.get("groupId"))
    )
    if account is None:
        raise IngestError(
            f"{where} ({event}) names no account",
            fix="set properties.account_id (or context.groupId) to the account's id",
        )
    user = _text(call.get("userId")) or _text(call.get("anonymousId"))
    when = _time(call.get("originalTimestamp") or call.get("timestamp"), f"{where}.timestamp")
    return Event(message_id, account, event, when or received, user, properties)


def track_calls(body: dict[str, Any], received: dt.datetime) -> list[Event]:
    """The events of a ``/v1/track`` body."""
    out = track(body | {"type": body.get("type", "track")}, "the call", received)
    return [out] if out is not None else []


def batch_calls(body: dict[str, Any], received: dt.datetime) -> list[Event]:
    """The events of a ``/v1/batch`` body (``{"batch": [...]}``)."""
    calls = body.get("batch")
    if not isinstance(calls, list):
        raise IngestError("the body has no batch list", fix='send {"batch": [{...}, ...]}')
    events = [track(c, f"batch[{i}]", received) for i, c in enumerate(calls)]
    return [e for e in events if e is not None]

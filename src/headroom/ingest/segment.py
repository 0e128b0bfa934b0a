"""Segment's HTTP tracking API, as far as headroom reads it: ``track`` calls, one at a time
(``POST /v1/track``) or in a ``batch`` (``POST /v1/batch``), from Segment's own libraries.

A track call becomes an event of the ``events`` table: ``messageId`` is its id (and makes a
retried call harmless), ``event`` its name, ``timestamp`` its time (else ``originalTimestamp``,
else when it arrived), ``userId`` (or ``anonymousId``) its user, and the account is the
first of ``properties.account_id``, ``context.groupId`` (the call's, or the batch's) and
``groupId`` (B2B events carry the account they happened in). A call without a messageId is
named by a hash of its content. Other calls in a batch (identify, group, page, ...) are accepted and
not kept. Limits are Segment's: 32 KB a call, 500 KB a batch.

A bad call anywhere in a batch refuses the whole batch, saying which call and what is wrong;
nothing of it is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from headroom.errors import HeadroomError
from headroom.sources.schema import EARLIEST, LATEST

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
#: The deepest a body may nest objects and lists (a batch, a call, its properties and theirs).
MAX_DEPTH = 32


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


#: The longest id, event name or account the store keeps.
MAX_TEXT = 200


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None


def _checked(value: str | None, where: str) -> str | None:
    """``value`` if the store can keep it as it is."""
    if value is not None and len(value) > MAX_TEXT:
        raise IngestError(
            f"{where} is {len(value):,} characters long, over the limit of {MAX_TEXT}",
            fix="send a shorter id or name",
        )
    if value is not None and "\x00" in value:
        raise IngestError(f"{where} holds a NUL character", fix="send text without NUL")
    return value


def _time(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        # Stored in UTC: SQLite keeps no offset, and windows count UTC days on every store.
        t = t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)
    except ValueError:
        raise IngestError(
            f"{where}: {value!r} is not an ISO 8601 time",
            fix="send e.g. 2026-11-24T16:03:00Z (Segment's libraries do)",
        ) from None
    except OverflowError:  # a time near year 1 or 9999 whose offset takes it out of range
        t = None
    if t is None or not EARLIEST <= t.date() <= LATEST:
        raise IngestError(
            f"{where}: {value!r} is outside the times headroom keeps ({EARLIEST.year} to "
            f"{LATEST.year})",
            fix="send the time the event happened, e.g. 2026-11-24T16:03:00Z",
        )
    return t


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_body(raw: bytes, limit: int) -> dict[str, Any]:
    """The JSON object of a request body, within ``limit`` bytes."""
    if len(raw) > limit:
        raise PayloadTooLargeError(
            f"the request body is {len(raw):,} bytes, over the limit of {limit:,}",
            fix="send at most 32 KB per call and 500 KB per batch, as Segment's libraries do",
        )
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise IngestError(
            f"the request body is not JSON ({exc})", fix="send a JSON object"
        ) from None
    except RecursionError:
        body = None  # nested far deeper than MAX_DEPTH: refused below
    if body is None or _too_deep_or_not_text(body):
        raise IngestError(
            f"the request body nests objects or lists more than {MAX_DEPTH} deep",
            fix="send flatter properties",
        )
    if not isinstance(body, dict):
        raise IngestError("the request body is not a JSON object", fix="send a JSON object")
    return body


def _too_deep_or_not_text(body: Any) -> bool:
    """Whether ``body`` nests deeper than :data:`MAX_DEPTH`; raises for a string that is not
    Unicode text (a lone surrogate such as ``\\ud800``, which no store can keep)."""
    stack: list[tuple[Any, int]] = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                return True
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str):
                    stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                bad = value[exc.start]
                raise IngestError(
                    f"the request body holds {bad!a}, a lone surrogate, which is not Unicode text",
                    fix="send text as UTF-8 (escape pairs \\ud83d\\ude00 are fine)",
                ) from None
    return False


def track(
    call: Any, where: str, received: dt.datetime, shared: dict[str, Any] | None = None
) -> Event | None:
    """A track call as an event (None for the other kinds of call, which are not kept)."""
    if not isinstance(call, dict):
        raise IngestError(f"{where} is not a JSON object", fix="send each call as an object")
    shared = shared or {}
    kind = call.get("type", "track")
    if kind != "track":
        return None
    if len(json.dumps(call, default=str, ensure_ascii=False).encode()) > MAX_CALL_BYTES:
        raise PayloadTooLargeError(
            f"{where} is over the limit of 32 KB for one call", fix="send fewer properties"
        )
    message_id = _checked(_text(call.get("messageId")), f"{where}.messageId")
    if message_id is None:
        # Segment's HTTP API makes it optional: the call's own content names it, so the same
        # call retried is still one event.
        canonical = json.dumps(call, sort_keys=True, default=str, ensure_ascii=False)
        message_id = "h-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]
    event = _checked(_text(call.get("event")), f"{where}.event")
    if event is None:
        raise IngestError(f"{where}.event is missing", fix="name the event, e.g. 'invite_sent'")
    properties = call.get("properties") or {}
    own = call.get("context") or {}
    if not isinstance(properties, dict) or not isinstance(own, dict):
        raise IngestError(
            f"{where}: properties and context must be JSON objects", fix="send objects"
        )
    context = {**shared, **own}
    if "\x00" in json.dumps(properties, ensure_ascii=False, default=str):
        raise IngestError(f"{where}.properties holds a NUL character", fix="send text without NUL")
    account = _checked(
        _text(properties.get("account_id"))
        or _text(context.get("groupId"))
        or _text(call.get("groupId")),
        f"{where}: the account id",
    )
    if account is None:
        raise IngestError(
            f"{where} ({event}) names no account",
            fix="set properties.account_id (or context.groupId) to the account's id",
        )
    user = _checked(_text(call.get("userId")) or _text(call.get("anonymousId")), f"{where}.userId")
    # Segment's timestamp is the client's clock corrected by sentAt; originalTimestamp is not.
    when = _time(call.get("timestamp") or call.get("originalTimestamp"), f"{where}.timestamp")
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
    shared = body.get("context")  # a batch may give the context all its calls share
    shared = shared if isinstance(shared, dict) else {}
    events = [track(c, f"batch[{i}]", received, shared) for i, c in enumerate(calls)]
    return [e for e in events if e is not None]

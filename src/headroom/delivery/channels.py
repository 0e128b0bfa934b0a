"""The one small interface every channel implements, and the registry of channel kinds.

A channel kind is a class with a pydantic ``Settings`` model (what ``delivery.yaml`` gives it)
and a :meth:`Channel.send` that either returns (the receiver has the message) or raises
:class:`RetryLaterError` (try again later: down, slow, 5xx, 429) or :class:`RefusedError` (it
will never take this message: a bad address, 4xx). The built-in kinds register exactly as a
user's own would::

    @channel_kind("pager")
    class Pager(Channel):
        class Settings(BaseModel):
            url: str

        def send(self, message: Outgoing) -> None: ...

``idempotent`` says whether the receiver honours the idempotency key (``message.key``, the same
on every attempt): only then can a resend after a crash never reach anyone twice.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from headroom.errors import ConfigError


@dataclass(frozen=True)
class Outgoing:
    """One message to send. ``key`` is the delivery's id: the idempotency key."""

    key: str
    recipient: str | None
    kind: str  # email | brief | alert
    subject: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)  # the play, account and evidence


class DeliveryError(Exception):
    """A send that did not reach the receiver; ``reason`` is kept with the delivery."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLaterError(DeliveryError):
    """Worth trying again; ``after``: seconds the receiver asked us to wait (Retry-After)."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class RefusedError(DeliveryError):
    """The receiver will never take this message: dead-lettered at once."""


class Channel:
    """A way to reach people. Subclasses set ``Settings`` and implement :meth:`send`."""

    Settings: ClassVar[type[BaseModel]]
    #: Whether the receiver deduplicates by ``Outgoing.key``.
    idempotent: ClassVar[bool] = False

    def __init__(self, name: str, settings: Any) -> None:
        self.name = name
        self.settings = settings

    def send(self, message: Outgoing) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (called when the worker stops)."""


C = TypeVar("C", bound=type[Channel])
_KINDS: dict[str, type[Channel]] = {}


def channel_kind(kind: str) -> Callable[[C], C]:
    """Register a channel class under ``kind`` (the ``kind:`` of a channel in delivery.yaml)."""

    def register(cls: C) -> C:
        if kind in _KINDS and _KINDS[kind] is not cls:
            raise ConfigError(
                f"channel kind {kind!r} is registered twice",
                fix="give your channel kind its own name",
            )
        _KINDS[kind] = cls
        return cls

    return register


def kinds() -> dict[str, type[Channel]]:
    """Every registered channel kind (the built-ins included)."""
    from headroom.delivery import builtin  # noqa: F401 - registers the built-in kinds

    return dict(_KINDS)


def retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date.

    >>> retry_after("120")
    120.0
    >>> now = dt.datetime(2026, 10, 21, 7, 27, tzinfo=dt.UTC)
    >>> retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now)
    60.0
    >>> retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def http_outcome(status: int, headers: Any, body: str, where: str) -> None:
    """Raise what an HTTP answer means for a delivery (2xx returns)."""
    if 200 <= status < 300:
        return
    text = " ".join(body.split())[:200]
    reason = f"{where} answered {status}" + (f": {text}" if text else "")
    if status == 429 or status == 408 or status >= 500:
        raise RetryLaterError(reason, retry_after(headers.get("retry-after")))
    raise RefusedError(reason)


def unreachable(where: str, exc: BaseException) -> RetryLaterError:
    """The error for a receiver that could not be reached at all."""
    return RetryLaterError(f"{where} could not be reached ({type(exc).__name__}: {exc})")

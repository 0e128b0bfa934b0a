"""HTTP webhooks signed per the Standard Webhooks spec (https://www.standardwebhooks.com).

Each request carries ``webhook-id`` (the delivery's id, the same on every attempt, which the
spec makes the receiver's idempotency key), ``webhook-timestamp`` (seconds since the epoch, when
it was signed) and ``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of
``id.timestamp.body`` under the secret). Secrets are written as the spec gives them:
``whsec_`` and base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from headroom.delivery.channels import (
    Channel,
    Outgoing,
    RetryLaterError,
    channel_kind,
    http_outcome,
    unreachable,
)

PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    """The key of a ``whsec_`` secret.

    >>> secret_bytes("whsec_c2VjcmV0")
    b'secret'
    """
    return base64.b64decode(secret.removeprefix(PREFIX), validate=True)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of a message.

    >>> sign("whsec_c2VjcmV0", "msg_1", 1700000000, b'{"a":1}')
    'v1,Q5nZ7DiOGwijBBqvBVAK6c0zDr2JLkXI7TaV4f+Q2vY='
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@channel_kind("webhook")
class Webhook(Channel):
    """POST the play as JSON to a URL, signed."""

    idempotent = True

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
        url: str
        secret: str = Field(description="whsec_ and base64, as the Standard Webhooks spec gives")
        timeout: float = Field(default=10.0, gt=0, description="seconds to wait for an answer")

        @field_validator("secret")
        @classmethod
        def _secret(cls, value: str) -> str:
            try:
                if not value.startswith(PREFIX) or not secret_bytes(value):
                    raise ValueError
            except (ValueError, binascii.Error):
                raise ValueError(
                    "a webhook secret is whsec_ followed by base64, e.g. whsec_"
                    + base64.b64encode(b"a long random secret").decode()
                ) from None
            return value

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self._client = httpx.Client(timeout=settings.timeout)

    def send(self, message: Outgoing) -> None:
        s: Webhook.Settings = self.settings
        body = json.dumps(
            {
                "type": f"headroom.{message.kind}",
                "timestamp": message.payload.get("created_at"),
                "data": {
                    "recipient": message.recipient,
                    "subject": message.subject,
                    "body": message.body,
                    **message.payload,
                },
            },
            separators=(",", ":"),
            default=str,
        ).encode()
        now = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message.key,
            "webhook-timestamp": str(now),
            "webhook-signature": sign(s.secret, message.key, now, body),
        }
        try:
            r = self._client.post(s.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise RetryLaterError(f"{s.url} did not answer within {s.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise unreachable(f"{s.url}", exc) from None
        http_outcome(r.status_code, r.headers, r.text, s.url)

    def close(self) -> None:
        self._client.close()

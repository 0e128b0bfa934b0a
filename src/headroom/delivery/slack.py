"""Slack: Block Kit to an incoming webhook, or a direct message through the Web API.

With ``webhook_url`` every message goes to that webhook's channel; with ``token`` (a bot
token with ``chat:write``, and ``users:read.email`` to find people by email) it goes to the
recipient: a user or channel id, or an email address looked up first.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from headroom.delivery.channels import (
    Channel,
    Outgoing,
    RefusedError,
    RetryLaterError,
    channel_kind,
    http_outcome,
    retry_after,
    unreachable,
)


def blocks(message: Outgoing) -> list[dict[str, Any]]:
    """The message in Block Kit: the subject as a header, the text, the play's id."""
    text = message.body if len(message.body) <= 2900 else message.body[:2897] + "..."
    play = message.payload.get("play", {})
    return [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"headroom play `{play.get('id', '')}`"}],
        },
    ]


@channel_kind("slack")
class Slack(Channel):
    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
        webhook_url: str | None = None
        token: str | None = None
        base_url: str = Field(default="https://slack.com/api/", description="the Web API")
        timeout: int = Field(default=10, gt=0)

        @model_validator(mode="after")
        def _one(self) -> Slack.Settings:
            if (self.webhook_url is None) == (self.token is None):
                raise ValueError("give either webhook_url or token")
            return self

    def send(self, message: Outgoing) -> None:
        s: Slack.Settings = self.settings
        if s.webhook_url:
            r = WebhookClient(s.webhook_url, timeout=s.timeout).send(
                text=message.subject, blocks=blocks(message)
            )
            http_outcome(r.status_code, r.headers or {}, str(r.body), "the Slack webhook")
            return
        client = WebClient(token=s.token, base_url=s.base_url, timeout=s.timeout)
        to = message.recipient
        if not to:
            raise RefusedError("no Slack user or channel to send to")
        try:
            if "@" in to:
                found = client.users_lookupByEmail(email=to)
                to = str(found["user"]["id"])
            client.chat_postMessage(channel=to, text=message.subject, blocks=blocks(message))
        except SlackApiError as exc:
            r = exc.response
            if r.status_code == 429 or r.status_code >= 500:
                raise RetryLaterError(
                    f"Slack answered {r.status_code}", retry_after(r.headers.get("retry-after"))
                ) from None
            raise RefusedError(f"Slack refused the message: {r.get('error')}") from None
        except OSError as exc:
            raise unreachable("Slack", exc) from None

"""CRM tasks in HubSpot: each message becomes a task for the play's owner to act on.

``POST /crm/v3/objects/tasks`` with a private app token (scope ``crm.objects.contacts.write``
covers tasks). HubSpot takes no idempotency key, so the channel is not idempotent.
"""

from __future__ import annotations

import datetime as dt

import httpx
from pydantic import BaseModel, ConfigDict, Field

from headroom.delivery.channels import (
    Channel,
    Outgoing,
    RetryLaterError,
    channel_kind,
    http_outcome,
    unreachable,
)

PRIORITY = {1: "HIGH", 2: "HIGH", 3: "MEDIUM"}


@channel_kind("hubspot")
class HubSpot(Channel):
    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
        token: str
        base_url: str = "https://api.hubapi.com"
        timeout: float = Field(default=10.0, gt=0)

    def send(self, message: Outgoing) -> None:
        s: HubSpot.Settings = self.settings
        play = message.payload.get("play", {})
        due = play.get("due_at") or dt.datetime.now(dt.UTC).isoformat()
        properties = {
            "hs_timestamp": due,
            "hs_task_subject": message.subject[:500],
            "hs_task_body": message.body,
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": PRIORITY.get(int(play.get("priority") or 3), "LOW"),
        }
        if message.recipient and message.recipient.isdigit():
            properties["hubspot_owner_id"] = message.recipient
        url = s.base_url.rstrip("/") + "/crm/v3/objects/tasks"
        try:
            r = httpx.post(
                url,
                json={"properties": properties},
                headers={"authorization": f"Bearer {s.token}"},
                timeout=s.timeout,
            )
        except httpx.TimeoutException:
            raise RetryLaterError(f"HubSpot did not answer within {s.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise unreachable("HubSpot", exc) from None
        http_outcome(r.status_code, r.headers, r.text, "HubSpot")

"""The Slack and HubSpot channels against their APIs' shapes, served on loopback: what they
send, and how each answer maps to sent, retry later (with Retry-After) or refused."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from headroom.delivery.channels import Outgoing, RefusedError, RetryLaterError, kinds
from headroom.delivery.hubspot import HubSpot
from headroom.delivery.slack import Slack
from tests.delivery.receivers import Api, Route

MESSAGE = Outgoing(
    key="dlv_1",
    recipient="kim@teamflow.example",
    kind="alert",
    subject="enterprise_expansion fired for Acme (a3)",
    body="acv 36,000, seat utilisation 85%, tier Business.",
    payload={"play": {"id": "p-3", "priority": 1, "due_at": "2026-03-08T09:00:00+00:00"}},
)


def test_the_built_in_kinds_register_like_any_other() -> None:
    assert sorted(kinds()) == ["email", "hubspot", "slack", "webhook"]


def test_slack_webhook_posts_block_kit() -> None:
    with Api({"/hook": (200, b"ok", {})}) as api:
        Slack("team", Slack.Settings(webhook_url=api.url("/hook"))).send(MESSAGE)
    ((method, path, _, body),) = api.requests
    sent = json.loads(body)
    assert (method, path) == ("POST", "/hook")
    assert sent["text"] == MESSAGE.subject
    assert [b["type"] for b in sent["blocks"]] == ["header", "section", "context"]
    assert sent["blocks"][0]["text"]["text"] == MESSAGE.subject
    assert sent["blocks"][1]["text"]["text"] == MESSAGE.body
    assert "p-3" in sent["blocks"][2]["elements"][0]["text"]


def test_slack_dm_finds_the_person_by_email_then_writes_to_them() -> None:
    routes: dict[str, Route] = {
        "/api/users.lookupByEmail": (200, {"ok": True, "user": {"id": "U042"}}, {}),
        "/api/chat.postMessage": (200, {"ok": True, "ts": "1.2"}, {}),
    }
    with Api(routes) as api:
        settings = Slack.Settings(token="xoxb-test", base_url=api.url("/api/"))
        Slack("dm", settings).send(MESSAGE)
    lookup, post = api.requests
    assert parse_qs(lookup[3].decode()) == {"email": ["kim@teamflow.example"]}
    assert lookup[2]["authorization"] == "Bearer xoxb-test"
    sent = json.loads(post[3])
    assert (sent["channel"], sent["text"]) == ("U042", MESSAGE.subject)


def test_slack_rate_limits_are_retried_after_what_slack_asks() -> None:
    limited: Route = (429, {"ok": False, "error": "ratelimited"}, {"retry-after": "30"})
    once = {"/api/chat.postMessage": [limited]}
    routes: dict[str, Route] = {"/api/chat.postMessage": (200, {"ok": True}, {})}
    with Api(routes, once) as api:
        slack = Slack("dm", Slack.Settings(token="xoxb-test", base_url=api.url("/api/")))
        to_channel = Outgoing(**{**MESSAGE.__dict__, "recipient": "C0123"})
        with pytest.raises(RetryLaterError) as err:
            slack.send(to_channel)
        assert (err.value.reason, err.value.after) == ("Slack answered 429", 30.0)
        slack.send(to_channel)
    assert len(api.requests) == 2


def test_slack_refusals_are_dead_letters() -> None:
    routes: dict[str, Route] = {
        "/api/chat.postMessage": (200, {"ok": False, "error": "channel_not_found"}, {})
    }
    with Api(routes) as api:
        slack = Slack("dm", Slack.Settings(token="xoxb-test", base_url=api.url("/api/")))
        with pytest.raises(RefusedError, match=r"^Slack refused the message: channel_not_found$"):
            slack.send(Outgoing(**{**MESSAGE.__dict__, "recipient": "C404"}))
    with pytest.raises(ValueError, match="give either webhook_url or token"):
        Slack.Settings()


def test_hubspot_creates_a_task_for_the_play() -> None:
    routes: dict[str, Route] = {"/crm/v3/objects/tasks": (201, {"id": "901"}, {})}
    with Api(routes) as api:
        HubSpot("crm", HubSpot.Settings(token="pat-1", base_url=api.url())).send(
            Outgoing(**{**MESSAGE.__dict__, "recipient": "77"})
        )
    ((method, path, headers, body),) = api.requests
    assert (method, path, headers["authorization"]) == (
        "POST", "/crm/v3/objects/tasks", "Bearer pat-1",
    )  # fmt: skip
    assert json.loads(body) == {
        "properties": {
            "hs_timestamp": "2026-03-08T09:00:00+00:00",
            "hs_task_subject": MESSAGE.subject,
            "hs_task_body": MESSAGE.body,
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
            "hubspot_owner_id": "77",
        }
    }


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (401, RefusedError, 'HubSpot answered 401: {"message": "bad token"}'),
        (502, RetryLaterError, 'HubSpot answered 502: {"message": "bad token"}'),
    ],
)
def test_hubspot_answers_map_to_refused_or_retry(
    status: int, error: type[Exception], reason: str
) -> None:
    answer: dict[str, Route] = {"/crm/v3/objects/tasks": (status, {"message": "bad token"}, {})}
    with Api(answer) as api, pytest.raises(error) as err:
        HubSpot("crm", HubSpot.Settings(token="x", base_url=api.url())).send(MESSAGE)
    assert str(err.value) == reason

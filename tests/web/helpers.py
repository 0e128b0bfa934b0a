"""Signing in and what the web tests share: the password, an HTML request, a play row."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi.testclient import TestClient

from headroom.store.models import Play

PASSWORD = "correct horse battery"


HTML = {"accept": "text/html"}


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def sign_in(client: TestClient, login: str, password: str = PASSWORD) -> Any:
    page = client.get("/login", headers=HTML)
    return client.post(
        "/login",
        data={"login": login, "password": password, "csrf": csrf_of(page.text), "next": "/queue"},
        headers=HTML,
        follow_redirects=False,
    )


NOW = dt.datetime.now(dt.UTC)


def play_row(play_id: str, owner: str, priority: int, due_in_hours: float, **kw: Any) -> Play:
    due = (NOW + dt.timedelta(hours=due_in_hours)).isoformat()
    return Play(
        play_id=play_id, account_id=kw.get("account_id", f"acct_{play_id}"),
        trigger=kw.get("trigger", "seat_expansion_proactive"),
        fired_on=NOW.date(), due_at=due, owner=owner, offer="seats", priority=priority,
        evidence={"seat_utilisation": 0.91, "days_above": 7}, playbook_version="v1",
        status=kw.get("status", "open"), created_at=NOW, notify=[], escalate=[],
        sla_due_at=kw.get("sla"), role=kw.get("role", "csm"), segment=kw.get("segment", "smb"),
    )  # fmt: skip

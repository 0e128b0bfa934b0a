"""A seat-utilisation scenario run through ``headroom run``: ten seats, nine in use from a day
on, and the playbook that fires on it (shared by the run, recording and web tests)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from headroom.cli.main import app

PLAYBOOK = """\
name: seats
stage:
  entry: "paying"
  declined_suppression: 90d
triggers:
  - id: seat_expansion_proactive
    when: "seat_utilisation > 0.85"
    for: 7d
    eligible: "{eligible}"
    cooldown: {{group: seat_expansion, period: 30d}}
    timing: next business day 10:00
    owner:
      - when: "tier in ('Starter', 'Professional')"
        owner: self_serve
      - owner: csm
    offer: seats
    priority: 2
routing:
  - when: "acv >= 1000"
    notify: [csm_direct_message]
    sla: 4h
  - when: "tier = 'Starter'"
    notify: [csm_direct_message, growth_team]
    sla: 24h
"""


HIGH_FROM = dt.date(2026, 3, 20)  # 9 of 10 seats in use from this day on


def write_source(folder: Path, extra_usage_after: dt.date | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "accounts.csv").write_text(
        "account_id,timezone,csm\n"
        "a1,Europe/Berlin,ana@example.com\n"
        "a2,America/New_York,ben@example.com\n"
        "a3,UTC,\n"
    )
    (folder / "plans.csv").write_text("plan,rank\nStarter,1\nBusiness,3\n")
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,mrr,plan,seats\n"
        "s1,a1,2025-01-01,100,Starter,10\n"
        "s2,a2,2025-01-01,350,Business,10\n"
        "s3,a3,2025-01-01,100,Starter,10\n"
    )
    (folder / "outcomes.csv").write_text("account_id,date,outcome\na2,2026-03-01,declined\n")
    lines = ["account_id,date,metric,value\n"]
    for i in range(60):
        day = dt.date(2026, 3, 1) + dt.timedelta(days=i)
        later = extra_usage_after is not None and day > extra_usage_after
        for account in ("a1", "a2"):
            value = 2 if later else 9 if day >= HIGH_FROM else 6  # later: a1 and a2 drop
            lines.append(f"{account},{day},active_users,{value}\n")
        lines.append(f"a3,{day},active_users,{10 if later else 6}\n")  # later: a3 fills up
    (folder / "usage_daily.csv").write_text("".join(lines))
    return folder


def run(env: dict[str, Path], day: str, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        ["run", str(env["source"]), "--playbook", str(env["playbook"]), "--as-of", day,
         "--format", "json", *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body

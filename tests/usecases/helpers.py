"""A source whose three accounts each fire a TeamFlow trigger on a day of the test's choosing,
and the TeamFlow playbook delivering through one webhook: what the scheduled cycle runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.delivery.helpers import playbook_with
from tests.triggers.scenarios import Scenario, days

HOOK_ONLY = """channels:
  hook: {{kind: webhook, url: "{hook}", secret: "${{TEST_HOOK_SECRET}}", timeout: 5}}
send:
  self_serve: {{channel: hook, to: "owner@{{{{ account.id }}}}.example"}}
  csm: {{channel: hook, to: "{{{{ account.csm }}}}"}}
  ae: {{channel: hook, to: "{{{{ account.ae }}}}"}}
  ae_alert: {{channel: hook}}
  csm_direct_message: {{channel: hook, to: "{{{{ account.csm }}}}"}}
retry: {{lease_seconds: 2, first_seconds: 0.1}}
"""


def source_through(folder: Path, day: dt.date) -> Path:
    """Three accounts, each firing a different TeamFlow trigger on ``day``, the data's last."""
    s = Scenario(folder)
    s.account("a1")
    s.account("a2", plan="Business", mrr=1500, seats=10)
    s.account("a3", plan="Business", mrr=3000, seats=20, segment="enterprise")
    month = days(day - dt.timedelta(days=34), day)
    s.daily("a1", "active_users", [(d, 5) for d in month])
    s.event("a1", "invite_blocked_seat_limit", f"{day}T18:30:00Z")
    s.daily("a2", "active_users", [(d, 9) for d in month])  # 90% of 10 seats
    s.daily("a3", "active_users", [(d, 17) for d in month])  # 85% of 20
    return s.write()


def hook_playbook(folder: Path, hook_url: str) -> Path:
    return playbook_with(folder, HOOK_ONLY.format(hook=hook_url))

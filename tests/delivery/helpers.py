"""A TeamFlow playbook with delivery settings beside it, and a source whose three accounts
each fire a different trigger on DAY (shared by the delivery, ingest and web tests)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from tests.triggers.scenarios import Scenario, days

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "teamflow"


DAY = dt.date(2026, 3, 7)


def source(folder: Path) -> Path:
    """Three accounts, each firing a different TeamFlow trigger on DAY."""
    s = Scenario(folder)
    s.account("a1")
    s.account("a2", plan="Business", mrr=1500, seats=10)
    s.account("a3", plan="Business", mrr=3000, seats=20, segment="enterprise")
    month = days(dt.date(2026, 2, 1), DAY)
    s.daily("a1", "active_users", [(d, 5) for d in month])
    s.event("a1", "invite_blocked_seat_limit", "2026-03-07T18:30:00Z")
    s.daily("a2", "active_users", [(d, 9) for d in month])  # 90% of 10 seats
    s.daily("a3", "active_users", [(d, 17) for d in month])  # 85% of 20, 36,000 a year
    return s.write()


def playbook_with(folder: Path, delivery: str) -> Path:
    shutil.copytree(EXAMPLE, folder)
    (folder / "delivery.yaml").write_text(delivery)
    return folder / "playbook.yaml"

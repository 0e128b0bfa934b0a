"""Small hand-written sources for the trigger engine: accounts, subscriptions, usage and
events day by day, evaluated in process (shared by the trigger, delivery and ingest tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from headroom.playbook.model import Playbook
from headroom.sources import load
from headroom.triggers.decisions import Decision, History
from headroom.triggers.evaluate import evaluate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


ACCOUNT_COLUMNS = "account_id,segment,health,onboarded_on,timezone,csm,ae"


PLANS = "plan,rank\nStarter,1\nProfessional,2\nBusiness,3\nEnterprise,4\n"


LIMITS = (
    "plan,metric,limit,kind\n"
    "Starter,automation_runs,1000,per_cycle\nStarter,storage_gb,20,gauge\n"
    "Business,automation_runs,50000,per_cycle\nBusiness,storage_gb,500,gauge\n"
)


class Scenario:
    """A small source: accounts (in stage unless told), subscriptions, usage and events."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.accounts: list[str] = []
        self.subs: list[str] = []
        self.usage: list[str] = []
        self.events: list[str] = []
        self.outcomes: list[str] = []

    def account(
        self,
        account_id: str,
        *,
        plan: str = "Starter",
        mrr: float = 100,
        seats: int = 10,
        segment: str = "smb",
        timezone: str = "America/Los_Angeles",
        start: str = "2025-01-15",
        renews_on: str = "",
    ) -> Scenario:
        self.accounts.append(
            f"{account_id},{segment},healthy,2025-02-01,{timezone},"
            f"csm.{account_id}@example.com,ae.{account_id}@example.com"
        )
        self.subs.append(f"s_{account_id},{account_id},{start},,{mrr},{plan},{seats},{renews_on}")
        return self

    def daily(self, account_id: str, metric: str, values: Iterable[tuple[dt.date, float]]) -> None:
        self.usage.extend(f"{account_id},{day},{metric},{v}" for day, v in values)

    def event(self, account_id: str, event: str, at: str) -> None:
        self.events.append(f"e{len(self.events)},{account_id},{event},{at}")

    def write(self) -> Path:
        """The source's files, written to its folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        files = {
            "accounts.csv": [ACCOUNT_COLUMNS, *self.accounts],
            "subscriptions.csv": [
                "subscription_id,account_id,start_date,end_date,mrr,plan,seats,renews_on",
                *self.subs,
            ],
            "usage_daily.csv": ["account_id,date,metric,value", *self.usage],
            "events.csv": ["event_id,account_id,event,timestamp", *self.events],
            "outcomes.csv": ["account_id,date,outcome", *self.outcomes],
        }
        for name, lines in files.items():
            (self.folder / name).write_text("\n".join(lines) + "\n")
        (self.folder / "plans.csv").write_text(PLANS)
        (self.folder / "plan_limits.csv").write_text(LIMITS)
        return self.folder

    def evaluate(self, playbook: Playbook, day: dt.date, history: History | None = None) -> Any:
        self.write()
        source = load(self.folder, today=dt.date(2027, 12, 31))
        try:
            return Result(evaluate(source, playbook, day, history or History()))
        finally:
            source.close()


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


class Result:
    def __init__(self, decisions: list[Decision]) -> None:
        self.decisions = decisions

    def fired(self, trigger: str) -> dict[str, Any]:
        """The plays of a trigger by account."""
        return {
            d.account_id: d.play
            for d in self.decisions
            if d.trigger == trigger and d.play is not None
        }

    def skipped(self, trigger: str) -> dict[str, tuple[str | None, dt.date | None]]:
        return {
            d.account_id: (d.reason, d.until)
            for d in self.decisions
            if d.trigger == trigger and d.action == "skipped"
        }

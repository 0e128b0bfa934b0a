"""Source files the signal tests share."""

from __future__ import annotations

from pathlib import Path


def starter_account(folder: Path) -> None:
    """One Starter account a1 from 2025-06-15 (billing cycles start on the 15th), with limits of
    1,000 automation runs a cycle and 20 GB of storage."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plans.csv").write_text("plan,rank\nStarter,1\n")
    (folder / "plan_limits.csv").write_text(
        "plan,metric,limit,kind\nStarter,automation_runs,1000,per_cycle\n"
        "Starter,storage_gb,20,gauge\n"
    )
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,mrr,plan\ns1,a1,2025-06-15,10,Starter\n"
    )

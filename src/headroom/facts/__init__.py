"""Facts: what each account looked like on a day (MRR, plan, seats, usage), as ibis tables."""

from headroom.facts.snapshot import account_snapshot, customers_by_plan_and_segment

__all__ = ["account_snapshot", "customers_by_plan_and_segment"]

"""A play's evidence in words: every kind of signal a playbook can name, said as a person would."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from headroom.playbook.expressions import SignalType
from headroom.triggers.evidence import describe


@pytest.mark.parametrize(
    ("evidence", "words"),
    [
        (
            {"events_invite_blocked_seat_limit_1d": 1.0},
            "invite blocked seat limit events: 1 today",
        ),
        (
            {"events_integration_page_view_30d": 4.0, "tier": "Starter"},
            "integration page view events: 4 in 30 days, tier Starter",
        ),
        ({"seat_utilisation": 0.9, "days_held": 7}, "seat utilisation 90% for 7 days"),
        ({"power_users": 3.0, "days_held": 14}, "power users 3 for 14 days"),
        ({"acv": 112098.0}, "acv 112,098"),
        ({"limit_share": 0.775, "cycles_held": 2}, "78% of a plan limit for 2 billing cycles"),
        ({"limit_share_storage_gb": 0.5}, "storage gb at 50% of its limit"),
        ({"growth_api_calls_1m": 0.125}, "api calls +12.5% month over month"),
        ({"growth_api_calls_3m": -0.02}, "api calls changing by at most 2.0% a month for 3 months"),
        (
            {
                "days_to_limit_storage_gb": 50.0,
                "days_to_limit_storage_gb_low": 44.2,
                "days_to_limit_storage_gb_high": None,
                "projection_storage_gb": "projected",
            },
            "storage gb reaches its limit in 50 days (80%: 44-never)",
        ),
        ({"days_to_limit_storage_gb": 0.0}, "storage gb is at its limit"),
        (
            {"days_to_limit_storage_gb": None, "projection_storage_gb": "too_little_history"},
            "storage gb has under 28 days of usage: too little to project",
        ),
        (
            {"days_to_limit_storage_gb": None, "projection_storage_gb": "not_growing"},
            "storage gb is not growing: no ceiling date",
        ),
        (
            {"days_to_limit": 108.2, "projected_ceiling": dt.date(2026, 6, 2)},
            "nearest limit in 109 days, ceiling 2026-06-02",
        ),
        (
            {
                "days_to_limit": 41.2,
                "days_to_limit_low": 35.0,
                "days_to_limit_high": 50.4,
                "projected_ceiling": dt.date(2026, 5, 12),
            },
            "nearest limit in 42 days (80%: 35-51), ceiling 2026-05-12",
        ),
        (
            {"days_to_limit": 41.2, "days_to_limit_low": 35.0, "days_to_limit_high": None},
            "nearest limit in 42 days (80%: 35-never)",
        ),
        ({"days_to_limit": None, "projected_ceiling": None}, "no projected ceiling, so due now"),
        ({"days_to_renewal": 90.0}, "renewal in 90 days"),
        ({"segment": "mid_market", "paying": True}, "segment mid_market, paying"),
        ({"onboarded": False}, "not onboarded"),
    ],
)
def test_evidence_in_words(evidence: dict[str, Any], words: str) -> None:
    assert describe(evidence) == words


def test_a_name_no_family_makes_is_read_as_plain_words() -> None:
    """The wording belongs to the family that names the signal: a name only like one of its
    names (an event with a capital, here) is not worded as that family's."""
    assert describe({"events_Upgrade_7d": 3.0}) == "events Upgrade 7d 3"
    assert describe({"events_upgrade_7d": 3.0}) == "upgrade events: 3 in 7 days"


def test_a_signal_of_ones_own_says_its_value_its_own_way(monkeypatch: pytest.MonkeyPatch) -> None:
    from headroom.signals import registry

    monkeypatch.setattr(registry, "_FAMILIES", list(registry._FAMILIES))
    try:
        # before its module is loaded, the name is plain words; that answer is not kept
        assert describe({"nps_90d": 42.0}) == "nps 90d 42"

        @registry.family(
            r"nps_(\d+)d", "nps_<N>d", SignalType.number, "NPS over N days",
            describe=lambda m, value, _: f"NPS {value:+.0f} over {m.group(1)} days",
        )  # fmt: skip
        def nps(match: Any) -> Any:
            return lambda ctx: None  # never computed here: only its wording is read

        assert describe({"nps_90d": 42.0, "days_held": 3}) == "NPS +42 over 90 days for 3 days"
    finally:
        registry.describer.cache_clear()  # the family is gone with the patched list

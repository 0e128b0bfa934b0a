"""Every trigger of both example playbooks, on small hand-made sources, to the exact day.

Each scenario builds the smallest source that makes one trigger fire, evaluates the real example
playbook the day before and the day it should fire, and checks the play: owner, due time in the
customer's timezone (across a daylight-saving change where the timing allows), and evidence.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from headroom.playbook.model import Playbook, load_playbook
from headroom.signals.registry import types
from headroom.triggers.decisions import History
from tests.triggers.scenarios import EXAMPLES, Scenario, days


def book(name: str) -> Playbook:
    return load_playbook(EXAMPLES / name / "playbook.yaml", types())


# -- TeamFlow -----------------------------------------------------------------------------------

TEAMFLOW = "teamflow"


def test_seat_expansion_urgent_fires_the_day_of_the_blocked_invite(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1")
    s.daily("a1", "active_users", [(d, 5) for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 9))])
    s.event("a1", "invite_blocked_seat_limit", "2026-03-07T18:30:00Z")
    playbook = book(TEAMFLOW)
    assert s.evaluate(playbook, dt.date(2026, 3, 6)).fired("seat_expansion_urgent") == {}
    play = s.evaluate(playbook, dt.date(2026, 3, 7)).fired("seat_expansion_urgent")["a1"]
    # Immediately: the moment of the blocked invite (18:30 UTC is 10:30 in Los Angeles), not
    # the end of the day it happened on; a run that comes later finds the play overdue.
    assert (play.owner, play.priority, play.due_at) == (
        "self_serve",
        1,
        "2026-03-07T10:30:00-08:00",
    )
    assert play.evidence == {"events_invite_blocked_seat_limit_1d": 1.0}
    assert s.evaluate(playbook, dt.date(2026, 3, 8)).fired("seat_expansion_urgent") == {}


def test_seat_expansion_proactive_needs_seven_days_over_85_percent(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1").account("a2", plan="Business", mrr=900)
    for account in ("a1", "a2"):
        s.daily(account, "active_users", [
            (d, 9 if d >= dt.date(2026, 3, 3) else 8)  # 90% from 3 March
            for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 20))
        ])  # fmt: skip
    playbook = book(TEAMFLOW)
    assert s.evaluate(playbook, dt.date(2026, 3, 8)).fired("seat_expansion_proactive") == {}
    plays = s.evaluate(playbook, dt.date(2026, 3, 9)).fired("seat_expansion_proactive")
    assert plays["a1"].owner == "self_serve"  # Starter
    assert plays["a2"].owner == "csm.a2@example.com"  # Business: the account's CSM
    assert plays["a1"].evidence == {"seat_utilisation": 0.9, "days_held": 7}
    # Monday 9 March: due Tuesday 10:00 in Los Angeles, now on daylight time.
    assert plays["a1"].due_at == "2026-03-10T10:00:00-07:00"


def test_tier_upgrade_feature_interest_on_the_fourth_view_in_30_days(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1", segment="mid_market").account("a2")
    s.account("a3", plan="Business")  # not in ('Starter', 'Professional')
    for account in ("a1", "a2", "a3"):
        s.daily(
            account,
            "active_users",
            [(d, 3) for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 31))],
        )
        for at in ("2026-02-10", "2026-03-01", "2026-03-05", "2026-03-11"):
            s.event(account, "integration_page_view", f"{at}T09:00:00Z")
    playbook = book(TEAMFLOW)
    # On 10 March the four views span 29 days, but the 4th has not happened yet.
    assert s.evaluate(playbook, dt.date(2026, 3, 10)).fired("tier_upgrade_feature_interest") == {}
    result = s.evaluate(playbook, dt.date(2026, 3, 11))
    plays = result.fired("tier_upgrade_feature_interest")
    assert sorted(plays) == ["a1", "a2"]
    assert plays["a1"].owner == "csm.a1@example.com"  # mid-market
    assert plays["a2"].owner == "self_serve"
    # 48 hours after the view that crossed the threshold (09:00 UTC on 11 March), in the
    # customer's time: not 48 hours after the day ended, which was 63 hours late.
    assert plays["a1"].due_at == "2026-03-13T02:00:00-07:00"
    # On 12 March the view of 10 February has left the 30-day window: 3 views.
    assert s.evaluate(playbook, dt.date(2026, 3, 12)).fired("tier_upgrade_feature_interest") == {}


def test_tier_upgrade_usage_needs_fourteen_days_of_three_power_users(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1", segment="mid_market").account("a2")
    for account in ("a1", "a2"):
        for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 31)):
            s.daily(account, "active_users", [(d, 5)])
            s.daily(account, "power_users", [(d, 3 if d >= dt.date(2026, 3, 1) else 2)])
    playbook = book(TEAMFLOW)
    assert s.evaluate(playbook, dt.date(2026, 3, 13)).fired("tier_upgrade_usage") == {}
    result = s.evaluate(playbook, dt.date(2026, 3, 14))
    plays = result.fired("tier_upgrade_usage")
    assert plays["a1"].owner == "csm.a1@example.com"
    assert plays["a2"].owner == "automated_nurture"
    assert plays["a2"].evidence == {"power_users": 3.0, "tier": "Starter", "days_held": 14}
    # Saturday 14 March: next business day is Monday 16 March.
    assert plays["a2"].due_at == "2026-03-16T10:00:00-07:00"


def test_tier_upgrade_triggers_share_a_cooldown(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1")
    for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 31)):
        s.daily("a1", "active_users", [(d, 5)])
        s.daily("a1", "power_users", [(d, 3)])
    for at in ("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"):
        s.event("a1", "integration_page_view", f"{at}T09:00:00Z")
    playbook = book(TEAMFLOW)
    result = s.evaluate(playbook, dt.date(2026, 3, 4))
    # Both hold; the first in the playbook fires and puts the group in its 60-day cooldown.
    assert list(result.fired("tier_upgrade_feature_interest")) == ["a1"]
    assert result.skipped("tier_upgrade_usage") == {"a1": ("cooldown", dt.date(2026, 5, 3))}
    # Only a play that fires starts the cooldown: with the first one open already, the second
    # trigger of the group fires.
    history = History(open_plays={("a1", "tier_upgrade_feature_interest")})
    result = s.evaluate(playbook, dt.date(2026, 3, 4), history)
    assert result.skipped("tier_upgrade_feature_interest") == {"a1": ("already_open", None)}
    assert list(result.fired("tier_upgrade_usage")) == ["a1"]


def test_enterprise_expansion_within_24_hours_across_the_dst_change(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1", plan="Business", mrr=2500, seats=100)
    s.account("a2", plan="Business", mrr=2000, seats=100)  # acv 24,000: not over 25,000
    for account in ("a1", "a2"):
        s.daily(account, "active_users", [
            (d, 81 if d >= dt.date(2026, 3, 7) else 80)
            for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 20))
        ])  # fmt: skip
    playbook = book(TEAMFLOW)
    assert s.evaluate(playbook, dt.date(2026, 3, 6)).fired("enterprise_expansion") == {}
    result = s.evaluate(playbook, dt.date(2026, 3, 7))
    play = result.fired("enterprise_expansion")["a1"]
    assert "a2" not in result.fired("enterprise_expansion")
    assert play.owner == "ae.a1@example.com"
    # From 8 March 00:00 PST, 24 wall-clock hours later is 9 March 00:00, now PDT.
    assert play.due_at == "2026-03-09T00:00:00-07:00"
    # acv 30,000: the routing rule for acv >= 25,000 alerts the CSM and AE within 4 hours,
    # and 4 hours from midnight that night are 05:00 PDT: an SLA is elapsed time.
    assert play.notify == ("csm_direct_message", "ae_alert")
    assert play.sla_due_at == "2026-03-08T05:00:00-07:00"


def test_a_declined_outcome_suppresses_every_trigger(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1")
    s.daily("a1", "active_users", [(d, 5) for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 9))])
    s.event("a1", "invite_blocked_seat_limit", "2026-03-07T18:30:00Z")
    history = History(declined_on={"a1": dt.date(2026, 1, 10)})
    result = s.evaluate(book(TEAMFLOW), dt.date(2026, 3, 7), history)
    assert result.skipped("seat_expansion_urgent") == {"a1": ("suppressed", dt.date(2026, 4, 10))}


def test_an_open_play_is_not_fired_again(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1")
    s.daily("a1", "active_users", [(d, 5) for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 9))])
    s.event("a1", "invite_blocked_seat_limit", "2026-03-07T18:30:00Z")
    history = History(open_plays={("a1", "seat_expansion_urgent")})
    result = s.evaluate(book(TEAMFLOW), dt.date(2026, 3, 7), history)
    assert result.skipped("seat_expansion_urgent") == {"a1": ("already_open", None)}


def test_the_stage_keeps_out_new_and_at_risk_accounts(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1", start="2026-02-20")  # paying for 15 days
    s.account("a2")
    s.accounts[-1] = s.accounts[-1].replace("healthy", "at_risk")
    for account in ("a1", "a2"):
        s.daily(account, "active_users", [(dt.date(2026, 3, 7), 5)])
        s.event(account, "invite_blocked_seat_limit", "2026-03-07T18:30:00Z")
    result = s.evaluate(book(TEAMFLOW), dt.date(2026, 3, 7))
    assert result.skipped("seat_expansion_urgent") == {
        "a1": ("not_in_stage", None),
        "a2": ("not_in_stage", None),
    }


# -- trigger types ------------------------------------------------------------------------------

TYPES = "trigger-types"


def test_usage_ceiling_after_two_completed_cycles_over_70_percent(tmp_path: Path) -> None:
    """Subscription anchored on the 15th; 25 runs a day is 775 of 1,000 in a 31-day cycle."""
    s = Scenario(tmp_path / "s").account("a1", start="2025-06-15")
    s.daily(
        "a1", "active_users", [(d, 2) for d in days(dt.date(2025, 12, 1), dt.date(2026, 4, 30))]
    )
    s.daily("a1", "automation_runs", [
        (d, 25 if d >= dt.date(2026, 1, 15) else 10)
        for d in days(dt.date(2025, 12, 1), dt.date(2026, 4, 30))
    ])  # fmt: skip
    playbook = book(TYPES)
    # Cycles 15 Jan-14 Feb (775) and 15 Feb-14 Mar (700: 28 days, not over 70%).
    assert s.evaluate(playbook, dt.date(2026, 3, 14)).fired("usage_ceiling") == {}
    # 15 Mar-14 Apr is 775 again, but 15 Feb-14 Mar broke the streak.
    assert s.evaluate(playbook, dt.date(2026, 4, 14)).fired("usage_ceiling") == {}


def test_usage_ceiling_is_timed_before_the_projected_ceiling(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1", start="2025-06-15")
    s.daily(
        "a1", "active_users", [(d, 2) for d in days(dt.date(2025, 12, 1), dt.date(2026, 4, 30))]
    )
    s.daily(
        "a1", "automation_runs", [(d, 26) for d in days(dt.date(2025, 12, 1), dt.date(2026, 4, 30))]
    )
    # Storage grows 0.1 GB a day: 12.0 GB on 14 March, 20 GB in 80 days (2 June).
    s.daily("a1", "storage_gb", [
        (d, round(12.0 + 0.1 * (d - dt.date(2026, 3, 14)).days, 1))
        for d in days(dt.date(2025, 12, 20), dt.date(2026, 4, 30))
    ])  # fmt: skip
    playbook = book(TYPES)
    # 14 Feb ends the cycle 15 Jan-14 Feb (806); the one before (15 Dec-14 Jan) was 806 too.
    assert s.evaluate(playbook, dt.date(2026, 2, 13)).fired("usage_ceiling") == {}
    play = s.evaluate(playbook, dt.date(2026, 2, 14)).fired("usage_ceiling")["a1"]
    assert play.evidence["cycles_held"] == 2
    assert play.evidence["days_to_limit"] == pytest.approx(108.0)  # 9.2 GB on 14 Feb
    assert play.evidence["projected_ceiling"] == dt.date(2026, 6, 2)
    # Due 45 days before the ceiling, 09:00 in Los Angeles (PDT by then).
    assert play.due_at == "2026-04-18T09:00:00-07:00"
    assert play.owner == "csm.a1@example.com"


def test_usage_trend_early_warning_needs_the_sustained_trend(tmp_path: Path) -> None:
    """Two accounts 50 days from the storage limit; only one grew 8%+ a month for 3 months."""
    as_of = dt.date(2026, 6, 30)
    s = Scenario(tmp_path / "s").account("fast").account("slow")
    back = [as_of - dt.timedelta(days=i) for i in range(150)]
    # fast: +0.1 GB a day to 15 GB; its monthly means (13.55, 10.55, 7.55, 4.55) grow 28% or more.
    s.daily("fast", "storage_gb", [(d, round(15 - 0.1 * i, 4)) for i, d in enumerate(back)])
    # slow: +0.02 GB a day to 19 GB: 50 days from 20 GB too, but growing 3.3% a month.
    s.daily("slow", "storage_gb", [(d, round(19 - 0.02 * i, 4)) for i, d in enumerate(back)])
    for account in ("fast", "slow"):
        s.daily(account, "active_users", [(d, 2) for d in back])
    result = s.evaluate(book(TYPES), as_of)
    plays = result.fired("usage_trend_early_warning")
    assert list(plays) == ["fast"]
    # the metric nearest its limit, whatever it is called: storage here
    assert plays["fast"].evidence["days_to_limit"] == pytest.approx(50.0)
    assert plays["fast"].evidence["nearest_limit_growth_3m"] == pytest.approx(13.55 / 10.55 - 1)
    assert plays["fast"].due_at == "2026-07-01T00:00:00-07:00"


def test_seat_capacity_within_15_percent_of_seats(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1", seats=20)
    s.account("big", plan="Business", mrr=2500, seats=100)
    s.daily("a1", "active_users", [(dt.date(2026, 3, 9), 16), (dt.date(2026, 3, 10), 17)])
    s.daily("big", "active_users", [(dt.date(2026, 3, 9), 84), (dt.date(2026, 3, 10), 85)])
    playbook = book(TYPES)
    assert s.evaluate(playbook, dt.date(2026, 3, 9)).fired("seat_capacity") == {}  # 80%, 84%
    plays = s.evaluate(playbook, dt.date(2026, 3, 10)).fired("seat_capacity")  # 85% each
    assert plays["a1"].owner == "csm.a1@example.com"
    assert plays["big"].owner == "ae.big@example.com"  # acv 30,000: above the deal size
    assert plays["a1"].due_at == "2026-03-11T00:00:00-07:00"


def test_feature_unlock_two_attempts_within_14_days(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s").account("a1").account("a2", segment="mid_market")
    s.account("late")
    for account in ("a1", "a2", "late"):
        s.daily(account, "active_users", [(dt.date(2026, 3, 13), 2)])
    for account in ("a1", "a2"):
        s.event(account, "gated_feature_attempt", "2026-02-28T12:00:00Z")
        s.event(account, "gated_feature_attempt", "2026-03-13T12:00:00Z")  # 14 days incl.
    s.event("late", "gated_feature_attempt", "2026-02-27T12:00:00Z")  # 15 days before
    s.event("late", "gated_feature_attempt", "2026-03-13T12:00:00Z")
    result = s.evaluate(book(TYPES), dt.date(2026, 3, 13))
    plays = result.fired("feature_unlock")
    assert sorted(plays) == ["a1", "a2"]
    assert plays["a1"].owner == "in_product"  # smb
    assert plays["a2"].owner == "csm.a2@example.com"
    # Friday 13 March: within 1-3 business days is by the end of Wednesday 18 March.
    assert plays["a1"].due_at == "2026-03-18T17:00:00-07:00"


def test_contract_anniversary_60_to_90_days_before_renewal(tmp_path: Path) -> None:
    s = Scenario(tmp_path / "s")
    s.account("a1", renews_on="2026-06-08", timezone="Europe/Berlin")
    s.account("big", plan="Business", mrr=2500, seats=100, renews_on="2026-06-08")
    for account in ("a1", "big"):
        s.daily(
            account,
            "active_users",
            [(d, 2) for d in days(dt.date(2026, 3, 1), dt.date(2026, 3, 12))],
        )
    playbook = book(TYPES)
    assert s.evaluate(playbook, dt.date(2026, 3, 9)).fired("contract_anniversary") == {}  # 91
    plays = s.evaluate(playbook, dt.date(2026, 3, 10)).fired("contract_anniversary")  # 90 days
    assert plays["a1"].owner == "csm.a1@example.com"
    assert plays["big"].owner == "ae.big@example.com"
    assert plays["a1"].evidence == {"days_to_renewal": 90.0}  # the figure that made it fire
    # 75 days before 8 June is 25 March, 09:00 in Berlin (CET until the 29th).
    assert plays["a1"].due_at == "2026-03-25T09:00:00+01:00"
    # Once per contract term: a play fired last term keeps it quiet until a year has passed.
    history = History(last_fired={("a1", "contract_anniversary"): dt.date(2025, 9, 1)})
    result = s.evaluate(playbook, dt.date(2026, 3, 10), history)
    assert result.skipped("contract_anniversary") == {"a1": ("cooldown", dt.date(2026, 9, 1))}


USAGE_THRESHOLD = """\
version: 1
name: usage threshold
stage: {entry: "paying"}
triggers:
  - id: crowded
    when: "seat_utilisation > 0.85"
    timing: 48h after threshold
    owner: csm
    offer: seats
    priority: 2
"""


def test_48h_after_a_usage_threshold_counts_from_the_day_it_was_crossed(tmp_path: Path) -> None:
    """The day whose usage crossed the threshold starts the 48 hours: due at the start of
    the second day after it, not 48 hours after the day ended."""
    s = Scenario(tmp_path / "s").account("a1")
    s.daily("a1", "active_users", [
        (d, 9 if d >= dt.date(2026, 3, 20) else 5)
        for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    ])  # fmt: skip
    (tmp_path / "usage.yaml").write_text(USAGE_THRESHOLD)
    playbook = load_playbook(tmp_path / "usage.yaml", types())
    play = s.evaluate(playbook, dt.date(2026, 3, 20)).fired("crowded")["a1"]
    assert play.due_at == "2026-03-22T00:00:00-07:00"


def test_48h_after_an_event_threshold_through_headroom_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through the command line: a run the day after the page view that crossed
    the threshold (16:00 in the customer's time) records the play due 48 hours after that
    view, where it was about 60 hours late (48 hours after the day ended)."""
    import json

    from typer.testing import CliRunner

    from headroom.cli.main import app
    from headroom.config import settings

    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    settings.cache_clear()
    s = Scenario(tmp_path / "s").account("a1", segment="mid_market")
    s.daily("a1", "active_users", [(d, 3) for d in days(dt.date(2026, 2, 1), dt.date(2026, 3, 31))])
    for at in (
        "2026-03-01T09:00:00Z",
        "2026-03-05T09:00:00Z",
        "2026-03-09T09:00:00Z",
        "2026-03-11T23:00:00Z",
    ):  # the 4th: 16:00 in Los Angeles
        s.event("a1", "integration_page_view", at)
    s.write()
    result = CliRunner().invoke(
        app, ["run", str(s.folder), "--playbook", str(EXAMPLES / TEAMFLOW / "playbook.yaml"),
              "--as-of", "2026-03-11", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (play,) = [p for p in json.loads(result.stdout)["plays"]
               if p["trigger"] == "tier_upgrade_feature_interest"]  # fmt: skip
    assert play["due_at"] == "2026-03-13T16:00:00-07:00"

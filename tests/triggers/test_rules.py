"""The trigger engine's rules as plain functions, fast: periods in days, when a play is due,
and play ids. The end-to-end tests (a run through the command line) rest on these; here every
case runs in microseconds, and hypothesis tries the timings over any day and zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headroom.errors import ConfigError
from headroom.playbook.model import Cooldown, Duration, Timing, Trigger
from headroom.triggers.decisions import play_id
from headroom.triggers.rules import CYCLE_DAYS, cooldown_days, period_days, persistence_days
from headroom.triggers.timing import due_at, next_business_day

ZONES = ["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Auckland"]
days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31))


def trigger(**fields: object) -> Trigger:
    base: dict[str, object] = {
        "id": "t", "when": "paying", "timing": "immediately", "owner": "csm", "offer": "seats",
        "priority": 1,
    }  # fmt: skip
    return Trigger.model_validate(base | fields)


def test_periods_are_counted_in_days_and_other_units_are_refused() -> None:
    assert period_days("30d") == 30
    with pytest.raises(ConfigError) as err:
        period_days("48h")
    assert str(err.value) == "'48h' must be in days here; write e.g. 30d"


def test_persistence_in_days_or_in_cycles_and_nothing_finer() -> None:
    assert persistence_days(trigger()) == 0
    assert persistence_days(trigger(**{"for": "7d"})) == 7
    # two completed cycles need a third's worth of days before them to be seen whole
    assert persistence_days(trigger(**{"for": "2 cycles"})) == 3 * CYCLE_DAYS
    with pytest.raises(ConfigError) as err:
        persistence_days(trigger(**{"for": "48h"}))
    assert str(err.value) == (
        "trigger t: for: 48h is finer than the daily data; write the persistence in days, "
        "e.g. for: 7d"
    )


def test_a_cooldown_is_its_period_or_a_contract_term() -> None:
    assert cooldown_days(trigger()) == 0
    assert cooldown_days(trigger(cooldown=Cooldown(group="g", period="60d"))) == 60
    assert cooldown_days(trigger(cooldown=Cooldown(group="g", period="contract term"))) == 365


@given(days)
def test_the_next_business_day_is_the_first_weekday_after(day: dt.date) -> None:
    nxt = next_business_day(day)
    assert nxt > day and nxt.weekday() < 5
    assert all((day + dt.timedelta(days=k)).weekday() >= 5 for k in range(1, (nxt - day).days))


@given(days, st.sampled_from(ZONES))
def test_next_business_day_at_ten_is_ten_on_the_wall_clock_dst_or_not(
    day: dt.date, zone: str
) -> None:
    due = due_at(Timing.parse("next business day 10:00"), day, zone)
    assert (due.date(), due.hour, due.minute) == (next_business_day(day), 10, 0)
    assert due.tzinfo == zoneinfo.ZoneInfo(zone)


@given(days, st.sampled_from(ZONES))
def test_a_play_fired_by_usage_is_due_as_its_day_ends(day: dt.date, zone: str) -> None:
    due = due_at(Timing.parse("immediately"), day, zone)
    assert (due.date(), due.hour, due.minute) == (day + dt.timedelta(days=1), 0, 0)


@given(days, st.sampled_from(ZONES), st.integers(0, 23), st.integers(1, 96))
def test_hours_after_an_event_count_from_the_event(
    day: dt.date, zone: str, hour: int, hours: int
) -> None:
    moment = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)
    due = due_at(Timing.parse(f"{hours}h after threshold"), day, zone, moment=moment)
    assert due - moment == dt.timedelta(hours=hours)  # elapsed time, whatever the zone
    assert due_at(Timing.parse("immediately"), day, zone, moment=moment) == moment


def test_48_hours_after_a_usage_crossing_is_midnight_two_days_on_across_dst() -> None:
    # Berlin's clocks went forward on 2026-03-29: wall-clock hours, not elapsed ones
    due = due_at(Timing.parse("48h after threshold"), dt.date(2026, 3, 28), "Europe/Berlin")
    assert due.isoformat() == "2026-03-30T00:00:00+02:00"


def test_before_renewal_is_nine_on_the_windows_last_day_or_at_once() -> None:
    timing = Timing.parse("75-90d before renewal")
    fired, renews = dt.date(2026, 1, 10), dt.date(2026, 6, 1)
    due = due_at(timing, fired, "UTC", renews_on=renews)
    assert due.isoformat() == "2026-03-18T09:00:00+00:00"  # 75 days before renewal
    at_once = due_at(timing, fired, "UTC").isoformat()
    assert at_once == due_at(Timing.parse("immediately"), fired, "UTC").isoformat()


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12), days)
def test_play_ids_are_the_same_for_the_same_play_and_keyed_ids_differ(
    account: str, trigger_id: str, day: dt.date
) -> None:
    plain = play_id(account, trigger_id, day)
    assert plain == play_id(account, trigger_id, day) and len(plain) == 16
    keyed = play_id(account, trigger_id, day, b"secret")
    assert keyed != plain and len(keyed) == 32
    assert keyed != play_id(account, trigger_id, day, b"another secret")


def test_a_duration_says_how_to_write_one() -> None:
    with pytest.raises(ValueError) as err:
        Duration.parse("soon")
    assert str(err.value) == (
        "'soon' is not a duration; write a whole number and a unit, such as 7d, 48h, 30m or "
        "2 cycles"
    )

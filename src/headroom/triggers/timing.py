"""When a fired play is due, in the customer's own timezone (correct across DST changes).

Timings count from the moment the condition was crossed: the time of the event that crossed it,
or for usage the day whose data crossed it (a run evaluates a day after it has ended, so a play
fired "immediately" by usage is due at the first moment of the next day). A batch run that comes
later than that records the play overdue, and the queue says so.
Local times are built with zoneinfo and only then turned into an offset, so "10:00" is 10:00 on
both sides of a daylight-saving change.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Mapping, Sequence

import ibis

from headroom.errors import ConfigError
from headroom.playbook.model import Playbook, Timing
from headroom.signals.builtin import EVENT_SIGNAL
from headroom.sources import Source


def _local(day: dt.date, hour: int, minute: int, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zoneinfo.ZoneInfo(tz))


def next_business_day(day: dt.date) -> dt.date:
    """The first Monday-to-Friday after ``day``."""
    nxt = day + dt.timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += dt.timedelta(days=1)
    return nxt


@functools.lru_cache(maxsize=4096)  # pure; a run asks it for thousands of plays, few zones
def due_at(
    timing: Timing,
    fired_on: dt.date,
    tz: str,
    renews_on: dt.date | None = None,
    ceiling_on: dt.date | None = None,
    moment: dt.datetime | None = None,
) -> dt.datetime:
    """The moment a play fired at the end of ``fired_on`` is due, as an aware datetime.

    Timings are counted from the moment the condition was crossed: ``moment``, the time of
    the event that crossed it, for a condition that counts events; else the start of the day
    whose usage crossed it. "immediately" is that event's time (a play fired by usage is due as
    the day's data is complete: the end of the day); "48h after threshold" and "within 24h"
    count their hours from the crossing.

    "75-90d before renewal" and "45-60d before ceiling" are due at 09:00 on the last day of
    their window (75 or 45 days before), or at once if that day has passed or the date is
    unknown (no renewal date, no projected ceiling).
    """
    start = _local(fired_on + dt.timedelta(days=1), 0, 0, tz)
    match timing.kind:
        case "immediately":
            return moment.astimezone(zoneinfo.ZoneInfo(tz)) if moment is not None else start
        case "next_business_day":
            hour, minute = timing.numbers
            return _local(next_business_day(fired_on), hour, minute, tz)
        case "after_threshold" | "within":
            hours = dt.timedelta(hours=timing.numbers[0])
            if moment is not None:
                return (moment + hours).astimezone(zoneinfo.ZoneInfo(tz))
            # From the start of the day whose usage crossed it ("within": once the day's data
            # is complete), in wall-clock hours: 48h after midnight is midnight two days on,
            # DST or not.
            base = _local(fired_on, 0, 0, tz) if timing.kind == "after_threshold" else start
            return (base.replace(tzinfo=None) + hours).replace(tzinfo=zoneinfo.ZoneInfo(tz))
        case "within_business_days":
            day = fired_on
            for _ in range(timing.numbers[1]):
                day = next_business_day(day)
            return _local(day, 17, 0, tz)  # end of the last business day of the window
        case "before_renewal" | "before_ceiling":
            target = renews_on if timing.kind == "before_renewal" else ceiling_on
            if target is None:
                return start
            latest = target - dt.timedelta(days=timing.numbers[0])
            return max(start, _local(latest, 9, 0, tz))
        case _:
            raise ConfigError(f"unknown timing {timing.kind!r}", fix="see the playbook docs")


_EVENT_SIGNAL = re.compile(EVENT_SIGNAL)


def _counted(playbook: Playbook) -> dict[str, dict[str, int]]:
    """Per trigger id, each event its condition counts (``events_<event>_<N>d``) and the
    longest window, in days, it is counted over."""
    out: dict[str, dict[str, int]] = {}
    for i, t in enumerate(playbook.model.triggers):
        for name in playbook.when(i).names():
            m = _EVENT_SIGNAL.fullmatch(name)
            if m:
                windows = out.setdefault(t.id, {})
                windows[m.group(1)] = max(windows.get(m.group(1), 0), int(m.group(2)))
    return out


def counted_events(playbook: Playbook) -> dict[str, set[str]]:
    """Per trigger id, the events its condition counts (``events_<event>_<N>d``)."""
    return {trigger: set(windows) for trigger, windows in _counted(playbook).items()}


def crossings(
    source: Source, playbook: Playbook, fired: Mapping[str, Sequence[str]], as_of: dt.date
) -> dict[tuple[str, str], dt.datetime]:
    """When each play fired (``fired``: per trigger id, the accounts) by a condition that
    counts events crossed it, by (trigger, account): the first of the day's events the
    condition counts (the moment it could first have held), else, for events that arrived
    dated before the day, the latest of them."""
    counted = _counted(playbook)
    if not counted:
        return {}
    # Only the events its conditions count can have crossed them: those of their windows.
    days = max(d for windows in counted.values() for d in windows.values())
    since = as_of - dt.timedelta(days=days)
    source.note_read("events", since)  # before any play fired: what a run reads, on no rows
    wanted: dict[str, list[str]] = {"w_trigger": [], "w_account": [], "w_event": []}
    for trigger, accounts in fired.items():
        for account in accounts:
            for event in sorted(counted.get(trigger, ())):
                wanted["w_trigger"].append(trigger)
                wanted["w_account"].append(account)
                wanted["w_event"].append(event)
    if not wanted["w_trigger"]:
        return {}
    start = dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    w = ibis.memtable(wanted, schema={"w_trigger": "string", "w_account": "string",
                                      "w_event": "string"})  # fmt: skip
    ev = source.table("events")
    first = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    ev = ev.filter((ev.timestamp >= ibis.literal(first)) & (ev.timestamp < ibis.literal(end)))
    j = ev.inner_join(w, (ev.account_id == w.w_account) & (ev.event == w.w_event))
    on_day = ibis.cases((j.timestamp >= ibis.literal(start), j.timestamp), else_=ibis.null())
    got = (
        j.group_by(["w_trigger", "w_account"])
        .aggregate(first=on_day.min(), last=j.timestamp.max())
        .to_pyarrow()
        .to_pylist()
    )
    out = {}
    for g in got:
        moment = g["first"] or g["last"]
        if moment is not None:
            aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
            out[(g["w_trigger"], g["w_account"])] = aware
    return out

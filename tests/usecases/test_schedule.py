"""The scheduled daily cycle in-process, on a clock the test moves: which days are due, the
cycle's steps on a real source, store and webhook receiver, catching up, waiting for data,
failures tried again, the lease between two schedulers, and a cycle resumed after a crash."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner

from headroom.cli.main import app
from headroom.config import settings
from headroom.delivery.worker import deliveries
from headroom.store.database import Store
from headroom.store.models import Cycle, Play, Run
from headroom.usecases.cycle import CyclePlan
from headroom.usecases.run import run_playbook
from headroom.usecases.schedule import Schedule, Scheduler, due_days, latest_due
from tests.delivery.receivers import SECRET, Hook
from tests.usecases.helpers import hook_playbook, source_through

DAY = dt.date(2026, 3, 7)  # the source's last day of data
SIX = Schedule(at=dt.time(6), zone=ZoneInfo("UTC"))


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("HEADROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    settings.cache_clear()
    s = Store()
    yield s
    s.close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook() as h:
        yield h


@pytest.fixture
def plan(tmp_path: Path, hook: Hook) -> CyclePlan:
    return CyclePlan(
        source_through(tmp_path / "src", DAY), [hook_playbook(tmp_path / "b", hook.url)]
    )


def cycles(store: Store) -> list[tuple[dt.date, str, int]]:
    with store.session() as s:
        rows = s.scalars(select(Cycle).order_by(Cycle.day))
        return [(c.day, c.status, c.attempts) for c in rows]


def count(store: Store, model: type[Play] | type[Run]) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# -- which days are due ----------------------------------------------------------------------


def test_the_cycle_of_a_day_is_due_at_its_time_on_the_day_after() -> None:
    assert latest_due(SIX, at(DAY, 5, 59)) == DAY - dt.timedelta(days=2)
    assert latest_due(SIX, at(DAY, 6)) == DAY - dt.timedelta(days=1)
    # in the schedule's own zone: 06:00 in Berlin is 05:00 UTC in winter, 04:00 in summer
    berlin = Schedule(at=dt.time(6), zone=ZoneInfo("Europe/Berlin"))
    assert latest_due(berlin, at(dt.date(2026, 1, 10), 5)) == dt.date(2026, 1, 9)
    assert latest_due(berlin, at(dt.date(2026, 7, 10), 4)) == dt.date(2026, 7, 9)
    assert latest_due(berlin, at(dt.date(2026, 7, 10), 3, 59)) == dt.date(2026, 7, 8)


def test_missed_days_are_caught_up_in_order_as_far_back_as_told() -> None:
    now = at(DAY, 7)
    assert due_days(SIX, now, None) == [DAY - dt.timedelta(days=1)]  # a first start: the last
    assert due_days(SIX, now, DAY - dt.timedelta(days=1)) == []
    assert due_days(SIX, now, DAY - dt.timedelta(days=4)) == [
        DAY - dt.timedelta(days=3), DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1)
    ]  # fmt: skip
    two = Schedule(at=dt.time(6), catch_up_days=2)
    assert due_days(two, now, DAY - dt.timedelta(days=30)) == [
        DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1)
    ]  # fmt: skip


@given(
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)),
    st.integers(0, 60),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Pacific/Auckland"]),
    st.times(),
)
def test_due_days_are_consecutive_after_the_last_done_and_never_ahead(
    now: dt.datetime, behind: int, zone: str, time: dt.time
) -> None:
    schedule = Schedule(at=time, zone=ZoneInfo(zone), catch_up_days=7)
    latest = latest_due(schedule, now)
    last = latest - dt.timedelta(days=behind)
    due = due_days(schedule, now, last)
    assert due == [latest - dt.timedelta(days=i) for i in reversed(range(min(behind, 7)))]
    local = now.astimezone(ZoneInfo(zone))
    assert all(d < local.date() for d in due)  # never a day not over yet


# -- the cycle, scheduled --------------------------------------------------------------------


def test_a_due_cycle_runs_delivers_and_records_each_step(
    store: Store, plan: CyclePlan, hook: Hook
) -> None:
    clock = Clock(at(DAY + dt.timedelta(days=1), 6, 30))
    scheduler = Scheduler(store, plan, SIX, holder="a", clock=clock)
    (result,) = scheduler.tick()
    assert result.status == "finished", result.error
    refresh, run, deliver = result.steps
    assert (refresh["step"], refresh["data_through"]) == ("refresh", "2026-03-07")
    assert (run["step"], run["plays"], run["recorded_earlier"]) == ("run", 3, False)
    sent = {d.delivery_id for d in deliveries(store) if d.status == "sent"}
    assert deliver == {"step": "deliver", "sent": len(sent), "retrying": 0, "dead": 0}
    assert sorted(hook.accepted) == sorted(sent)
    assert cycles(store) == [(DAY, "finished", 1)]
    assert scheduler.tick() == []  # done once
    assert count(store, Play) == 3


def test_a_day_past_the_data_waits_for_it_then_is_tried_again(
    store: Store, plan: CyclePlan
) -> None:
    clock = Clock(at(DAY + dt.timedelta(days=2), 6, 30))
    scheduler = Scheduler(store, plan, SIX, holder="a", clock=clock)
    assert [r.status for r in scheduler.tick()] == ["waiting"]  # as of 8 March: no data yet
    (row,) = cycles(store)
    assert row == (DAY + dt.timedelta(days=1), "waiting", 1)
    with store.session() as s:
        waiting = s.get(Cycle, DAY + dt.timedelta(days=1))
        assert waiting is not None
        assert waiting.error == (
            "the source's last day of usage and events is 2026-03-07; the cycle as of "
            "2026-03-08 runs once its data reaches that day"
        )
    clock.now += dt.timedelta(minutes=5)
    assert scheduler.tick() == []  # not again before retry_after
    clock.now += dt.timedelta(minutes=6)
    assert [r.status for r in scheduler.tick()] == ["waiting"]
    assert cycles(store) == [(DAY + dt.timedelta(days=1), "waiting", 2)]
    assert count(store, Play) == 0


def test_missed_days_run_in_order_each_as_of_its_own_day(store: Store, plan: CyclePlan) -> None:
    with store.session() as s:  # the last cycle that ran was as of 3 March
        s.add(Cycle(day=DAY - dt.timedelta(days=4), status="finished", holder="earlier",
                    attempts=1, steps=[], started_at=at(DAY, 0)))  # fmt: skip
    clock = Clock(at(DAY + dt.timedelta(days=1), 6, 30))
    ran = Scheduler(store, plan, SIX, holder="a", clock=clock).tick()
    assert [(r.day, r.status) for r in ran] == [
        (DAY - dt.timedelta(days=i), "finished") for i in (3, 2, 1, 0)
    ]
    with store.session() as s:
        as_of = sorted(d for d in s.scalars(select(Run.as_of).where(Run.kind == "run")) if d)
    assert as_of == [DAY - dt.timedelta(days=i) for i in (3, 2, 1, 0)]


def test_a_failed_cycle_is_recorded_and_tried_again_later(
    store: Store, tmp_path: Path, plan: CyclePlan
) -> None:
    broken = CyclePlan(plan.source, [tmp_path / "no-such-playbook.yaml"])
    clock = Clock(at(DAY + dt.timedelta(days=1), 6, 30))
    scheduler = Scheduler(store, broken, SIX, holder="a", clock=clock)
    (result,) = scheduler.tick()
    assert result.status == "failed"
    assert result.error is not None and "no-such-playbook.yaml" in result.error
    clock.now += dt.timedelta(minutes=11)
    scheduler.plan = plan  # mended
    assert [r.status for r in scheduler.tick()] == ["finished"]
    assert cycles(store) == [(DAY, "finished", 2)]


def test_one_scheduler_at_a_time_holds_the_lease_and_another_takes_over_when_it_lapses(
    store: Store, plan: CyclePlan
) -> None:
    clock = Clock(at(DAY + dt.timedelta(days=1), 6, 30))
    term = dt.timedelta(seconds=90)
    a = Scheduler(store, plan, SIX, holder="a", clock=clock, term=term)
    b = Scheduler(store, plan, SIX, holder="b", clock=clock, term=term)
    assert a.lease.hold(clock()) and not b.lease.hold(clock())
    assert b.tick() == []  # a holds it: b does nothing, though the day is due
    assert cycles(store) == []
    clock.now += term + dt.timedelta(seconds=1)  # a stopped renewing (killed)
    assert [r.status for r in b.tick()] == ["finished"]
    assert b.lease.holder_now() == "b"
    assert not a.lease.hold(clock())


def test_a_cycle_killed_after_its_run_resumes_without_a_play_or_message_twice(
    store: Store, plan: CyclePlan, hook: Hook
) -> None:
    # As a process killed between the run's commit and the deliveries leaves it: the plays
    # and the outbox recorded, the cycle's row still running, nothing sent.
    with store.session() as s:
        s.add(Cycle(day=DAY, status="running", holder="killed", attempts=1, steps=[],
                    started_at=at(DAY, 6)))  # fmt: skip
    first = run_playbook(store, plan.source, plan.playbooks[0], DAY)
    queued = {d.delivery_id for d in deliveries(store)}
    assert len(first.plays) == 3 and queued and not hook.requests
    clock = Clock(at(DAY + dt.timedelta(days=1), 6, 30))
    (result,) = Scheduler(store, plan, SIX, holder="a", clock=clock).tick()
    assert result.status == "finished"
    assert result.steps[1]["recorded_earlier"] is True
    assert count(store, Play) == 3
    assert sorted(hook.accepted) == sorted(queued)
    assert len(hook.requests) == len(queued)  # each sent once
    assert cycles(store) == [(DAY, "finished", 2)]


# -- refusals --------------------------------------------------------------------------------


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """The logging set-up as it was: a command run in-process configures it for the process."""
    import logging

    from headroom.logs import LOGGERS

    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level,
                 logging.getLogger(n).propagate) for n in LOGGERS}  # fmt: skip
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        (
            ["--daily-at", "25:00"],
            {},
            "error: --daily-at '25:00' is not a time of day; write it HH:MM or HH:MM:SS, such "
            "as --daily-at 06:00",
        ),
        (
            ["--daily-at", "06:00", "--timezone", "Europe/Berln"],
            {},
            "error: --timezone 'Europe/Berln' is not an IANA time zone; write a name such as "
            "--timezone Europe/Berlin or --timezone America/New_York",
        ),
        (
            ["--daily-at", "06:00"],
            {"HEADROOM_SCHEDULER_LEASE_SECONDS": "soon"},
            "error: HEADROOM_SCHEDULER_LEASE_SECONDS is 'soon'; set it to a number of seconds "
            "from 1 to 86400, or leave it unset for 90",
        ),
        (
            ["--daily-at", "06:00"],
            {"HEADROOM_LOG_FORMAT": "xml"},
            "error: HEADROOM_LOG_FORMAT is 'xml'; set it to text or json, or leave it unset for "
            "text",
        ),
        (
            [],
            {},
            "error: headroom worker has nothing to do: no --daily-at and no delivery.yaml beside "
            "the playbooks; pass --daily-at HH:MM (or set HEADROOM_DAILY_AT), or add a "
            "delivery.yaml",
        ),
    ],
)
def test_the_worker_refuses_bad_settings_saying_how_to_mend_them(
    quiet_logs: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    src = source_through(tmp_path / "src", DAY)
    book = Path(__file__).resolve().parents[2] / "examples" / "teamflow" / "playbook.yaml"
    result = CliRunner().invoke(app, ["worker", str(src), "--playbook", str(book), *extra])
    assert result.exit_code == 1
    assert result.stderr.strip() == message

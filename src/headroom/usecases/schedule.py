"""The daily cycle, scheduled: which days are due, who runs them, and the loop that does.

The cycle as of a day is due at a local time on the day after (``at``, in ``zone``): at 06:00
on Tuesday the cycle runs as of Monday, whose data is complete. Days missed while no process
ran are caught up in order, each as of its own day, up to ``catch_up_days`` back; an older gap
is left, and said. A day that failed, or whose data has not arrived, is tried again after
``retry_after``, and the days after it wait for it: they are run in order.

One process at a time schedules for a store: it holds a lease (:mod:`headroom.store.leases`)
and renews it while it works; when it stops renewing (killed, its machine gone), another
process takes over within the lease's term. Even two acting at once would run a day once: a
playbook's day is recorded once and a delivery is sent under its own lease
(:mod:`headroom.usecases.cycle`).

>>> s = Schedule(at=dt.time(6), zone=ZoneInfo("Europe/Berlin"))
>>> due_days(s, dt.datetime(2026, 12, 8, 5, 30, tzinfo=dt.UTC), dt.date(2026, 12, 4))
[datetime.date(2026, 12, 5), datetime.date(2026, 12, 6), datetime.date(2026, 12, 7)]
>>> due_days(s, dt.datetime(2026, 12, 8, 4, 30, tzinfo=dt.UTC), dt.date(2026, 12, 4))
[datetime.date(2026, 12, 5), datetime.date(2026, 12, 6)]
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from headroom.errors import ConfigError
from headroom.sources import load
from headroom.store.database import Store, aware
from headroom.store.leases import TERM, Lease
from headroom.store.models import Cycle
from headroom.usecases import Loader
from headroom.usecases.cycle import CyclePlan, CycleResult, run_cycle

log = logging.getLogger("headroom.schedule")

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Schedule:
    """When the cycle is due: ``at`` local time in ``zone``, as of the day before."""

    at: dt.time
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    catch_up_days: int = 7
    retry_after: dt.timedelta = dt.timedelta(minutes=10)


def parse_time(text: str, option: str) -> dt.time:
    """``06:00`` or ``06:00:30``, or a ConfigError naming ``option`` and the fix."""
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{option} {text!r} is not a time of day",
            fix=f"write it HH:MM or HH:MM:SS, such as {option} 06:00",
        ) from None


def parse_zone(name: str, option: str) -> ZoneInfo:
    """An IANA time zone, or a ConfigError naming ``option`` and the fix."""
    try:
        return ZoneInfo(name.strip())
    except (ValueError, KeyError, OSError):
        raise ConfigError(
            f"{option} {name!r} is not an IANA time zone",
            fix=f"write a name such as {option} Europe/Berlin or {option} America/New_York",
        ) from None


def latest_due(schedule: Schedule, now: dt.datetime) -> dt.date:
    """The last day whose cycle is due at ``now``."""
    local = now.astimezone(schedule.zone)
    back = 1 if local.time() >= schedule.at else 2
    return local.date() - dt.timedelta(days=back)


def due_days(schedule: Schedule, now: dt.datetime, last_done: dt.date | None) -> list[dt.date]:
    """The days whose cycle is due and not done after ``last_done``, in order: every one up to
    ``catch_up_days`` back; only the latest when nothing was done before."""
    latest = latest_due(schedule, now)
    if last_done is None:
        return [latest]
    first = max(last_done + dt.timedelta(days=1), latest - dt.timedelta(schedule.catch_up_days - 1))
    if first > latest:
        return []
    if first > last_done + dt.timedelta(days=1):
        log.warning(
            "cycles from %s to %s were missed and are older than %s days: left undone",
            last_done + dt.timedelta(days=1), first - dt.timedelta(days=1),
            schedule.catch_up_days,
        )  # fmt: skip
    return [first + dt.timedelta(days=i) for i in range((latest - first).days + 1)]


def holder_name() -> str:
    """This process, as leases and cycles name it: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Scheduler:
    """Runs ``plan``'s cycle for each due day, while it holds the store's scheduling lease."""

    def __init__(
        self,
        store: Store,
        plan: CyclePlan,
        schedule: Schedule,
        *,
        holder: str | None = None,
        clock: Clock = utcnow,
        load_source: Loader = load,
        term: dt.timedelta = TERM,
        on_finished: Callable[[CycleResult], object] | None = None,
    ) -> None:
        """``on_finished``: called after each cycle that finished (the web app shows the
        source it refreshed)."""
        self.store, self.plan, self.schedule = store, plan, schedule
        self.on_finished = on_finished
        self.holder = holder or holder_name()
        self.clock, self.load_source = clock, load_source
        self.lease = Lease(store, "scheduler", self.holder, term)

    def _last_done(self) -> dt.date | None:
        with self.store.session() as s:
            day: dt.date | None = s.scalar(
                select(func.max(Cycle.day)).where(Cycle.status == "finished")
            )
            return day

    def _retry_wait(self, day: dt.date, now: dt.datetime) -> bool:
        """Whether ``day`` failed, or waited for data, too recently to try it again."""
        with self.store.session() as s:
            row = s.get(Cycle, day)
            if row is None or row.status not in ("failed", "waiting") or row.finished_at is None:
                return False
            return now - aware(row.finished_at) < self.schedule.retry_after

    def tick(self) -> list[CycleResult]:
        """Run every due day's cycle in order, if this process holds the lease; what ran.
        Stops at a day that does not finish (the days after it wait for it)."""
        now = self.clock()
        if not self.lease.hold(now):
            return []
        done: list[CycleResult] = []
        for day in due_days(self.schedule, now, self._last_done()):
            if self._retry_wait(day, now):
                break
            # the lease is renewed meanwhile by run's keeper (a step may outlast its term)
            result = run_cycle(
                self.store, self.plan, day, holder=self.holder, load_source=self.load_source,
                clock=self.clock,
            )  # fmt: skip
            done.append(result)
            if result.status != "finished":
                break
            if self.on_finished is not None:
                try:
                    self.on_finished(result)
                except Exception:  # the cycle is done; what follows it must not undo that
                    log.exception("after the cycle as of %s", day)
            now = self.clock()
        return done

    def run(self, stop: threading.Event, every: float = 30.0) -> None:
        """Tick every ``every`` seconds until ``stop`` is set, renewing the lease meanwhile;
        release it on the way out so that another process takes over at once."""
        keeper = threading.Thread(
            target=self._keep, args=(stop,), name="headroom-lease", daemon=True
        )
        keeper.start()
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # the store went away for a while: try again next tick
                    log.exception("the scheduler's tick failed; trying again in %s s", every)
                stop.wait(every)
        finally:
            stop.set()
            keeper.join(timeout=5)
            try:
                self.lease.release()
            except Exception:  # stopping anyway: the lease runs out by itself
                log.warning("could not release the scheduling lease; it runs out by itself")

    def _keep(self, stop: threading.Event) -> None:
        """Renew the lease while it is ours (a cycle's step may outlast the lease's term)."""
        while not stop.wait(self.lease.term.total_seconds() / 4):
            try:
                if self.lease.holder_now() == self.holder:
                    self.lease.hold(self.clock())
            except Exception:
                log.warning("could not renew the scheduling lease; trying again")

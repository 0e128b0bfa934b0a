"""The work a server does beside answering requests: the delivery workers (one per
delivery.yaml in play) and the scheduler of the daily cycle. ``headroom serve`` runs it with
the web app; ``headroom worker`` runs it alone, for a second machine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from headroom.delivery.config import DeliveryConfig
from headroom.delivery.worker import Worker, workers_for
from headroom.store.database import Store
from headroom.usecases.schedule import Scheduler

log = logging.getLogger("headroom.background")


@dataclass
class Background:
    """Threads started by :meth:`start` and stopped, each after its current step, by
    :meth:`stop`."""

    store: Store
    deliveries: Sequence[DeliveryConfig] = ()
    scheduler: Scheduler | None = None
    poll_seconds: float = 1.0  # how often the delivery workers look for what is due
    tick_seconds: float = 30.0  # how often the scheduler looks for a due cycle
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._stop.clear()
        for i, worker in enumerate(workers_for(self.store, self.deliveries)):
            self._spawn(f"headroom-deliver-{i}", self._deliver, worker)
        if self.scheduler is not None:
            self._spawn("headroom-schedule", self.scheduler.run, self._stop, self.tick_seconds)

    def _deliver(self, worker: Worker) -> None:
        try:
            worker.run(self._stop, until_idle=False, poll_seconds=self.poll_seconds)
        finally:
            worker.close()

    def _spawn(self, name: str, target: Callable[..., object], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def interrupt(self) -> None:
        """Ask every thread to stop after its current step (safe in a signal handler)."""
        self._stop.set()

    def wait(self) -> None:
        """Until :meth:`interrupt` or :meth:`stop` is called."""
        self._stop.wait()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._threads.clear()

"""What the app serves, and each part of it as a typed FastAPI dependency.

The routers are module-level (one module per thing served); a route names the parts it needs
in its signature (``store: StoreDep``) and FastAPI hands them over from the app's state, which
:func:`headroom.web.app.create_app` sets once.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from headroom.delivery.config import DeliveryConfig
from headroom.errors import NotFoundError
from headroom.ingest.realtime import Reactor
from headroom.playbook.model import Playbook
from headroom.sources import Source
from headroom.sources.engines import duckdb_connection
from headroom.store.database import Store
from headroom.usecases.account import AccountViews
from headroom.usecases.background import Background
from headroom.usecases.schedule import Scheduler
from headroom.users import LoginThrottle

#: How long a source the pages no longer show stays open for the requests still reading it.
RETIRE_SECONDS = 300.0


def retire(close: Callable[[], object]) -> None:
    """Call ``close`` once requests still reading what it closes are done (after
    :data:`RETIRE_SECONDS`), on a timer that does not keep the process alive."""
    timer = threading.Timer(RETIRE_SECONDS, close)
    timer.daemon = True
    timer.start()


@dataclass
class Serve:
    """What the app serves: the store, the write keys the ingest API accepts, what fires plays
    on arriving events, and the delivery settings its worker sends with."""

    store: Store
    write_keys: Sequence[str]
    reactor: Reactor | None = None
    delivery: DeliveryConfig | None = None
    worker_poll_seconds: float = 1.0
    #: Compute the account pages' queries and the Revenue page's numbers when the app starts,
    #: in the background, so that the first visitors do not wait for them.
    warm: bool = False
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    #: The loaded source the account pages read, and the day they show it as of.
    source: Source | None = None
    as_of: dt.date = field(default_factory=dt.date.today)
    #: The playbook plays are valued by (learned conversion) on the pipeline page.
    playbook: Playbook | None = None
    #: The delivery settings of the other playbooks served (each delivery.yaml gets a worker).
    also_deliver: Sequence[DeliveryConfig] = ()
    #: What runs the daily cycle, when one is scheduled; and how often it looks.
    scheduler: Scheduler | None = None
    scheduler_tick_seconds: float = 30.0
    #: Called with the new source and day when the source is refreshed (the app's page views).
    listeners: list[Callable[[Source, dt.date], None]] = field(default_factory=list)

    def refreshed(self, source: Source, as_of: dt.date) -> None:
        """Show ``source`` as of ``as_of`` from now on (the daily cycle loaded it afresh). The
        one shown until now is closed a while later, once requests reading it are done."""
        old = self.source
        # the page views first (warming them takes a while): meanwhile requests still read
        # the old source as of its own day, never the old views as of the new day
        for listener in self.listeners:
            listener(source, as_of)
        self.source, self.as_of = source, as_of
        if self.reactor is not None:
            self.reactor.source = source
        if old is not None and old is not source:
            retire(old.close)

    def background(self) -> Background:
        """The work beside the requests: a delivery worker per delivery.yaml, the scheduler."""
        deliveries = [d for d in (self.delivery, *self.also_deliver) if d is not None]
        return Background(
            self.store, deliveries, self.scheduler, self.worker_poll_seconds,
            self.scheduler_tick_seconds,
        )  # fmt: skip


def served(request: Request) -> Serve:
    """The app's :class:`Serve` (set by ``create_app``)."""
    serve = request.app.state.serve
    assert isinstance(serve, Serve)
    return serve


def _store(request: Request) -> Store:
    return served(request).store


def _source(request: Request) -> Source | None:
    return served(request).source


def _as_of(request: Request) -> dt.date:
    return served(request).as_of


def _playbook(request: Request) -> Playbook | None:
    return served(request).playbook


def _throttle(request: Request) -> LoginThrottle:
    return served(request).throttle


def _views(request: Request) -> AccountViews | None:
    # one set of account-page engines for the app's life (they compile their queries once)
    views = request.app.state.views
    assert views is None or isinstance(views, AccountViews)
    return views


def account_views(views: AccountViews | None) -> AccountViews:
    """The account pages' views, or the error the page and the API both answer when the
    server was started without a source (asked for after who is asking is settled)."""
    if views is None:
        raise NotFoundError(
            "this server has no source to show accounts from",
            fix="start headroom serve with the source",
        )
    return views


Served = Annotated[Serve, Depends(served)]
StoreDep = Annotated[Store, Depends(_store)]
#: The loaded source (None: the server was started without one).
SourceDep = Annotated[Source | None, Depends(_source)]
#: The day the pages show the source as of.
AsOfDep = Annotated[dt.date, Depends(_as_of)]
PlaybookDep = Annotated[Playbook | None, Depends(_playbook)]
ThrottleDep = Annotated[LoginThrottle, Depends(_throttle)]
ViewsDep = Annotated[AccountViews | None, Depends(_views)]


def own_source(source: Source) -> Source:
    """The same loaded source on an engine connection of its own, for work in another thread
    (a connection is not shared across threads). Close it after use."""
    own = source.own()
    if own is None:  # another engine: the loaded file, on DuckDB
        return Source(source.name, source.path, source.report, duckdb_connection(source.path))
    return own

"""``headroom serve SOURCE --playbook P``: the web app, the ingest API, the delivery worker and
the daily cycle; ``headroom worker``: the last two alone."""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from headroom.cli.main import app
from headroom.cli.output import MappingOption, SourceArgument, load_source
from headroom.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from headroom.delivery.config import DeliveryConfig
    from headroom.messages import Templates
    from headroom.playbook.model import Playbook
    from headroom.sources import Source
    from headroom.store.database import Store
    from headroom.usecases.schedule import Scheduler


def data_day(src: Source) -> dt.date:
    """The day the account pages show: today, or the source's last day of usage if it ends
    earlier (a source exported last week is shown as it was then)."""
    u = src.table("usage_daily")
    last = u.date.max().to_pyarrow().as_py()
    today = dt.date.today()
    return min(today, last) if isinstance(last, dt.date) else today


PLAYBOOK_HELP = (
    "The playbook YAML file; repeat it for several (the first is the one the pages show and "
    "arriving events fire; the daily cycle runs each)."
)


#: ``--playbook``, once or more.
Playbooks = Annotated[
    list[Path], typer.Option(..., "--playbook", metavar="PLAYBOOK.yaml", help=PLAYBOOK_HELP)
]


class Unattended:
    """The options of the scheduled daily cycle, shared by serve and worker."""

    daily_at = typer.Option(
        None,
        "--daily-at",
        envvar="HEADROOM_DAILY_AT",
        metavar="HH:MM",
        help="Run the daily cycle at this local time: refresh the source, run each playbook as "
        "of the day before, deliver. Days missed while nothing ran are caught up in order.",
    )
    timezone = typer.Option(
        "UTC",
        "--timezone",
        envvar="HEADROOM_TIMEZONE",
        metavar="ZONE",
        help="The time zone of --daily-at (an IANA name: Europe/Berlin).",
    )
    catch_up = typer.Option(
        7,
        "--catch-up-days",
        min=1,
        metavar="DAYS",
        help="How many missed days the cycle catches up, at most.",
    )
    check_every = typer.Option(
        30.0,
        "--check-every",
        min=0.1,
        metavar="SECONDS",
        help="How often to look for a due cycle.",
    )


def checked_playbooks(paths: list[Path]) -> list[tuple[Playbook, Templates, DeliveryConfig | None]]:
    """Each playbook with its templates and delivery settings, checked before anything starts:
    a playbook, a template or a secret that is wrong stops us here."""
    from headroom.delivery.config import delivery_beside
    from headroom.messages import load_templates
    from headroom.playbook.model import load_playbook
    from headroom.signals.registry import types

    checked = []
    for path in paths:
        book = load_playbook(path, types())
        delivery = delivery_beside(path)
        if delivery is not None:
            for channel in delivery.channels().values():  # a missing secret stops us here
                channel.close()
        checked.append((book, load_templates(book), delivery))
    return checked


def scheduler_for(
    store: Store,
    source: Path,
    playbooks: list[Path],
    mapping: Path | None,
    daily_at: str | None,
    timezone: str,
    catch_up: int,
) -> Scheduler | None:
    """The scheduler of the daily cycle on ``store`` (None without --daily-at)."""
    from headroom.usecases.cycle import CyclePlan
    from headroom.usecases.schedule import Schedule, Scheduler, parse_time, parse_zone

    if daily_at is None:
        return None
    schedule = Schedule(
        parse_time(daily_at, "--daily-at"), parse_zone(timezone, "--timezone"), catch_up
    )
    plan = CyclePlan(source, playbooks, mapping)
    return Scheduler(store, plan, schedule, load_source=load_source, term=lease_term())


def lease_term() -> dt.timedelta:
    """How long another process waits to take over a scheduler that stopped renewing its
    lease (``HEADROOM_SCHEDULER_LEASE_SECONDS``, 90 by default)."""
    from headroom.config import environ

    text = environ("HEADROOM_SCHEDULER_LEASE_SECONDS") or "90"
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 1 <= seconds <= 86_400:
        raise ConfigError(
            f"HEADROOM_SCHEDULER_LEASE_SECONDS is {text!r}",
            fix="set it to a number of seconds from 1 to 86400, or leave it unset for 90",
        )
    return dt.timedelta(seconds=seconds)


@app.command("serve")
def serve_command(
    source: SourceArgument,
    playbook: Playbooks,
    mapping: MappingOption = None,
    host: str = typer.Option(
        "127.0.0.1", "--host", metavar="ADDRESS", help="Address to listen on."
    ),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    daily_at: str | None = Unattended.daily_at,
    timezone: str = Unattended.timezone,
    catch_up: int = Unattended.catch_up,
    check_every: float = Unattended.check_every,
) -> None:
    """Serve the web app (the queue and account pages; sign in as a user made with headroom
    users add), its JSON API under /api/v1, the ingest API (Segment-compatible /v1/track and
    /v1/batch; write keys from HEADROOM_WRITE_KEYS, comma-separated), and send deliveries as
    they fall due; with --daily-at, run the daily cycle too."""
    import uvicorn

    from headroom import logs
    from headroom.config import environ
    from headroom.ingest.realtime import Reactor
    from headroom.plays import versions
    from headroom.store.database import Store
    from headroom.web.app import create_app
    from headroom.web.parts import Serve

    logs.configure()
    checked = checked_playbooks(playbook)
    book, templates, delivery = checked[0]
    written = environ("HEADROOM_WRITE_KEYS") or ""  # or HEADROOM_WRITE_KEYS_FILE
    keys = [k.strip() for k in written.split(",") if k.strip()]
    store = Store()
    scheduler = scheduler_for(store, source, playbook, mapping, daily_at, timezone, catch_up)
    versions.record_version(store, book)  # the Playbook page shows it and compares later ones
    src = load_source(source, mapping)
    serve: Serve | None = None
    try:
        reactor = Reactor(src, book, templates, delivery, store)
        serve = Serve(
            store, keys, reactor, delivery, source=src, as_of=data_day(src), playbook=book,
            warm=True, also_deliver=[d for _, _, d in checked[1:] if d is not None],
            scheduler=scheduler, scheduler_tick_seconds=check_every,
        )  # fmt: skip
        if scheduler is not None:  # the pages show what each daily cycle loaded

            def show(_: object, serve: Serve = serve) -> None:
                fresh = load_source(source, mapping)
                serve.refreshed(fresh, data_day(fresh))

            scheduler.on_finished = show
        uvicorn.run(create_app(serve), host=host, port=port, log_config=None)
    finally:
        shown = serve.source if serve is not None else None
        if shown is not None and shown is not src:
            shown.close()
        src.close()
        store.close()


@app.command("worker")
def worker_command(
    source: SourceArgument,
    playbook: Playbooks,
    mapping: MappingOption = None,
    daily_at: str | None = Unattended.daily_at,
    timezone: str = Unattended.timezone,
    catch_up: int = Unattended.catch_up,
    check_every: float = Unattended.check_every,
) -> None:
    """Run the daily cycle (with --daily-at) and send deliveries as they fall due, without the
    web app: for a second machine beside headroom serve, or a server with no pages. Stops on
    Ctrl-C or SIGTERM, each after its current step."""
    from headroom import logs
    from headroom.store.database import Store
    from headroom.usecases.background import Background

    logs.configure()
    deliveries = [d for _, _, d in checked_playbooks(playbook) if d is not None]
    if daily_at is None and not deliveries:
        raise UsageError(
            "headroom worker has nothing to do: no --daily-at and no delivery.yaml beside the "
            "playbooks",
            fix="pass --daily-at HH:MM (or set HEADROOM_DAILY_AT), or add a delivery.yaml",
        )
    store = Store()
    scheduler = scheduler_for(store, source, playbook, mapping, daily_at, timezone, catch_up)
    background = Background(store, deliveries, scheduler, tick_seconds=check_every)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: background.interrupt())
    background.start()
    try:
        background.wait()
    finally:
        background.stop()
        store.close()

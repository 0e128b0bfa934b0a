"""``headroom serve SOURCE --playbook P``: the ingest API and the delivery worker."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from headroom.cli.main import app
from headroom.cli.output import MappingOption, SourceArgument, load_source

if TYPE_CHECKING:
    from headroom.sources import Source


def data_day(src: Source) -> dt.date:
    """The day the account pages show: today, or the source's last day of usage if it ends
    earlier (a source exported last week is shown as it was then)."""
    u = src.table("usage_daily")
    last = u.date.max().to_pyarrow().as_py()
    today = dt.date.today()
    return min(today, last) if isinstance(last, dt.date) else today


@app.command("serve")
def serve_command(
    source: SourceArgument,
    playbook: Path = typer.Option(..., "--playbook", help="The playbook YAML file."),
    mapping: MappingOption = None,
    host: str = typer.Option(
        "127.0.0.1", "--host", metavar="ADDRESS", help="Address to listen on."
    ),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
) -> None:
    """Serve the web app (the queue and account pages; sign in as a user made with headroom
    users add), its JSON API under /api/v1, the ingest API (Segment-compatible /v1/track and
    /v1/batch; write keys from HEADROOM_WRITE_KEYS, comma-separated), and send deliveries as
    they fall due."""
    import uvicorn

    from headroom.config import environ
    from headroom.delivery.config import delivery_beside
    from headroom.ingest.realtime import Reactor
    from headroom.messages import load_templates
    from headroom.playbook.model import load_playbook
    from headroom.plays import versions
    from headroom.signals.registry import types
    from headroom.store.database import Store
    from headroom.web.app import create_app
    from headroom.web.parts import Serve

    book = load_playbook(playbook, types())
    templates = load_templates(book)
    delivery = delivery_beside(playbook)
    if delivery is not None:
        for channel in delivery.channels().values():  # a missing secret stops us here
            channel.close()
    written = environ("HEADROOM_WRITE_KEYS") or ""  # or HEADROOM_WRITE_KEYS_FILE
    keys = [k.strip() for k in written.split(",") if k.strip()]
    store = Store()
    versions.record_version(store, book)  # the Playbook page shows it and compares later ones
    src = load_source(source, mapping)
    try:
        reactor = Reactor(src, book, templates, delivery, store)
        serve = Serve(
            store, keys, reactor, delivery, source=src, as_of=data_day(src), playbook=book,
            warm=True,
        )  # fmt: skip
        uvicorn.run(create_app(serve), host=host, port=port)
    finally:
        src.close()
        store.close()

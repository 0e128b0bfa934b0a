"""``headroom serve SOURCE --playbook P``: the ingest API and the delivery worker."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from headroom.cli.main import app
from headroom.cli.output import MAPPING_HELP, SOURCE_HELP
from headroom.delivery.config import delivery_beside
from headroom.ingest.realtime import Reactor
from headroom.messages import load_templates
from headroom.playbook.model import load_playbook
from headroom.plays.store import Store
from headroom.signals.registry import types
from headroom.sources import load


@app.command("serve")
def serve_command(
    source: Path = typer.Argument(..., help=SOURCE_HELP),
    playbook: Path = typer.Option(..., "--playbook", help="The playbook YAML file."),
    mapping: Path | None = typer.Option(None, "--mapping", help=MAPPING_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
) -> None:
    """Serve the ingest API (Segment-compatible /v1/track and /v1/batch; write keys from
    HEADROOM_WRITE_KEYS, comma-separated) and send deliveries as they fall due."""
    import uvicorn

    from headroom.web.app import Serve, create_app

    book = load_playbook(playbook, types())
    templates = load_templates(book)
    delivery = delivery_beside(playbook)
    if delivery is not None:
        for channel in delivery.channels().values():  # a missing secret stops us here
            channel.close()
    keys = [k.strip() for k in os.environ.get("HEADROOM_WRITE_KEYS", "").split(",") if k.strip()]
    store = Store()
    src = load(source, mapping)
    try:
        reactor = Reactor(src, book, templates, delivery, store)
        uvicorn.run(create_app(Serve(store, keys, reactor, delivery)), host=host, port=port)
    finally:
        src.close()
        store.close()

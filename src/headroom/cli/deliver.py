"""``headroom deliver CONFIG``: send what the outbox holds; ``headroom deliveries``: look at it."""

from __future__ import annotations

import signal
import threading
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from headroom.cli.main import app, new_app
from headroom.cli.output import Format, FormatOption, console, emit_rows, print_json
from headroom.errors import UsageError

if TYPE_CHECKING:
    from headroom.delivery.worker import Tally

CONFIG_HELP = "The delivery.yaml naming the channels (the one beside the playbook)."


@app.command("deliver")
def deliver_command(
    config: Path = typer.Argument(..., help=CONFIG_HELP),
    watch: bool = typer.Option(
        False, "--watch", help="Keep sending as deliveries fall due, until stopped."
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="Deliveries claimed per batch."),
    fmt: Format = typer.Option(Format.table, "--format", help="table or json."),
) -> None:
    """Send the queued deliveries (with retries and a dead-letter list); by default until
    nothing more is due now."""
    from headroom.delivery.config import load_delivery
    from headroom.delivery.worker import Worker, counts
    from headroom.store.database import Store

    settings = load_delivery(config)
    store = Store()
    worker = Worker(store, settings.channels(), settings.retry, send=settings.send)
    stop = threading.Event()
    if watch:  # Ctrl-C or a service manager's SIGTERM ends the current send, then stops
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    out = console()

    def said(t: Tally) -> None:
        if watch and fmt == Format.table and t.sent + t.retrying + t.dead:
            out.print(f"sent {t.sent}, retrying {t.retrying}, dead-lettered {t.dead}")

    try:
        total = worker.run(stop, until_idle=not watch, limit=limit, on_batch=said)
        left = counts(store)
        due = worker.next_due()
    finally:
        worker.close()
        store.close()
    result: dict[str, Any] = {
        "sent": total.sent,
        "retrying": total.retrying,
        "dead": total.dead,
        "queued": left.get("queued", 0) + left.get("sending", 0),
        "next_attempt_at": due.isoformat() if due else None,
        "dead_letters": total.reasons,
    }
    if fmt == Format.json:
        print_json(result)
        return
    out.print(
        f"sent {total.sent}, retrying {total.retrying}, dead-lettered {total.dead}; "
        f"{result['queued']} waiting" + (f", next at {result['next_attempt_at']}" if due else "")
    )
    for reason in total.reasons:
        out.print(f"  dead: {reason}")


deliveries_app = new_app("The delivery outbox: what was sent, what waits, what died and why.")
app.add_typer(deliveries_app, name="deliveries")


class Status(StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    dead = "dead"


COLUMNS = [
    "delivery_id", "play_id", "target", "channel", "recipient", "kind", "subject", "status",
    "attempts", "next_attempt_at", "last_error", "sent_at",
]  # fmt: skip


@deliveries_app.command("list")
def list_command(
    status: Status | None = typer.Option(None, "--status", help="Only deliveries in it."),
    fmt: FormatOption = Format.table,
) -> None:
    """The outbox, newest first."""
    from headroom.delivery.worker import deliveries
    from headroom.store.database import Store

    with Store() as store:
        rows = [
            {c: getattr(d, c) for c in COLUMNS}
            for d in deliveries(store, status.value if status else None)
        ]
    if fmt == Format.table and not rows:
        console().print("no deliveries" + (f" {status.value}" if status else ""))
        return
    emit_rows(rows, fmt, COLUMNS if fmt == Format.csv else None, title="Deliveries")


@deliveries_app.command("requeue")
def requeue_command(
    ids: list[str] = typer.Argument(None, help="Dead-lettered delivery ids."),
    all_dead: bool = typer.Option(False, "--all-dead", help="Every dead-lettered delivery."),
) -> None:
    """Put dead-lettered deliveries back in the queue (after mending what killed them)."""
    if not ids and not all_dead:
        raise UsageError("name the deliveries to requeue", fix="pass their ids, or --all-dead")
    from headroom.delivery.worker import requeue
    from headroom.store.database import Store

    with Store() as store:
        n = requeue(store, None if all_dead else ids)
    console().print(f"requeued {n} deliveries")

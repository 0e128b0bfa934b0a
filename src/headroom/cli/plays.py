"""``headroom plays list`` and ``headroom plays record``: the plays in the state store."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from headroom.cli.main import app, new_app, parse_date
from headroom.cli.output import Format, console, emit_rows, print_json
from headroom.errors import UsageError

if TYPE_CHECKING:
    from headroom.store.models import Play

plays_app = new_app("The plays in the state store, and their outcomes.")
app.add_typer(plays_app, name="plays")

COLUMNS = [
    "play_id", "account_id", "trigger", "fired_on", "due_at", "owner", "offer", "priority",
    "status", "outcome_on", "amount_mrr", "playbook_version", "evidence", "notify", "sla_due_at",
]  # fmt: skip


class Status(StrEnum):
    open = "open"
    contacted = "contacted"
    won = "won"
    lost = "lost"
    declined = "declined"


def play_dict(play: Play) -> dict[str, Any]:
    from headroom.triggers.evidence import describe

    out = {c: getattr(play, c) for c in COLUMNS}
    out["why"] = describe(play.evidence)
    return out


@plays_app.command("list")
def list_command(
    status: Status | None = typer.Option(None, "--status", help="Only plays in this status."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """The plays, highest priority and soonest due first."""
    from headroom.store.database import Store

    store = Store()
    try:
        rows = [play_dict(p) for p in store.plays(status.value if status else None)]
    finally:
        store.close()
    if fmt == Format.table:
        if not rows:
            console().print("no plays" + (f" with status {status.value}" if status else ""))
            return
        rows = [{k: v for k, v in r.items() if k != "evidence"} for r in rows]
    emit_rows(rows, fmt, COLUMNS if fmt == Format.csv else None, title="Plays")


@plays_app.command("record")
def record_command(
    play_id: str = typer.Argument(..., help="The play (headroom plays list shows the ids)."),
    outcome: str = typer.Option(..., "--outcome", help="contacted, won, lost or declined."),
    amount_mrr: str | None = typer.Option(None, "--amount-mrr", help="The expansion's MRR."),
    on: str | None = typer.Option(None, "--on", help="Day of the outcome (default today)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """Record what came of a play."""
    amount = None
    if amount_mrr is not None:
        try:
            amount = Decimal(amount_mrr)
        except InvalidOperation:
            raise UsageError(
                f"--amount-mrr {amount_mrr!r} is not a number", fix="e.g. --amount-mrr 250"
            ) from None
    day = parse_date(on, "--on") or dt.date.today()
    from headroom.store.database import Store

    store = Store()
    try:
        play = store.record(play_id, outcome, amount, day)
    finally:
        store.close()
    if fmt == Format.json:
        print_json(play_dict(play))
    elif fmt == Format.csv:
        emit_rows([play_dict(play)], fmt)
    else:
        console().print(f"play {play.play_id}: {play.status} on {play.outcome_on}")

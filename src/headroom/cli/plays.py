"""``headroom plays list`` and ``headroom plays record``: the plays in the state store."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from headroom.cli.main import app, new_app, parse_date
from headroom.cli.output import DAY, Format, FormatOption, console, emit_rows, print_json
from headroom.errors import UsageError

if TYPE_CHECKING:
    from headroom.store.models import Play

plays_app = new_app("The plays in the state store, and their outcomes.")
app.add_typer(plays_app, name="plays")

#: Every field of a play (:class:`headroom.plays.view.PlayView`'s, in its order), as JSON and
#: CSV give them. Written out: the view's module imports the engine, which --help must not.
COLUMNS = [
    "play_id", "account_id", "trigger", "fired_on", "due_at", "owner", "role", "segment",
    "offer", "priority", "status", "outcome_on", "amount_mrr", "playbook_version", "evidence",
    "why", "notify", "sla_due_at",
]  # fmt: skip
#: What a terminal shows by default: who, what, why, whose, by when.
TABLE_COLUMNS = ["account_id", "trigger", "why", "owner", "due_at"]
COLUMNS_HELP = (
    "The table's columns, comma-separated (default account_id,trigger,why,owner,due_at); "
    "any of " + ", ".join(COLUMNS) + ". JSON and CSV give them all."
)


def table_columns(text: str | None) -> list[str]:
    """The columns ``--columns`` names (the default when None), each a field of a play.

    >>> table_columns("trigger, why")
    ['trigger', 'why']
    """
    if text is None:
        return TABLE_COLUMNS
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown or not names:
        raise UsageError(
            f"--columns {text!r}: {', '.join(unknown) or 'no column'} is not a field of a play",
            fix="name some of " + ", ".join(COLUMNS),
        )
    return names


def emit_plays(
    rows: list[dict[str, Any]], fmt: Format, columns: list[str], title: str = "Plays"
) -> None:
    """Plays as a table of ``columns``, or every field in JSON or CSV."""
    if fmt == Format.table:
        emit_rows(rows, fmt, columns, title=title)
    else:
        emit_rows(rows, fmt, COLUMNS if fmt == Format.csv else None, title=title)


class Status(StrEnum):
    open = "open"
    contacted = "contacted"
    won = "won"
    lost = "lost"
    declined = "declined"


def play_dict(play: Play) -> dict[str, Any]:
    """A kept play in its one shape (:class:`~headroom.plays.view.PlayView`)."""
    from headroom.plays.view import PlayView

    return PlayView.of(play).to_dict()


@plays_app.command("list")
def list_command(
    status: Status | None = typer.Option(None, "--status", help="Only plays in this status."),
    fmt: FormatOption = Format.table,
    columns: str | None = typer.Option(None, "--columns", metavar="NAME,...", help=COLUMNS_HELP),
) -> None:
    """The plays, highest priority and soonest due first."""
    from headroom.store.database import Store

    shown = table_columns(columns)
    with Store() as store:
        rows = [play_dict(p) for p in store.plays(status.value if status else None)]
    if fmt == Format.table and not rows:
        console().print("no plays" + (f" with status {status.value}" if status else ""))
        return
    emit_plays(rows, fmt, shown)


@plays_app.command("record")
def record_command(
    play_id: str = typer.Argument(..., help="The play (headroom plays list shows the ids)."),
    outcome: str = typer.Option(..., "--outcome", help="contacted, won, lost or declined."),
    amount_mrr: str | None = typer.Option(None, "--amount-mrr", help="The expansion's MRR."),
    on: str | None = typer.Option(
        None, "--on", metavar=DAY, help="Day of the outcome (default today)."
    ),
    fmt: FormatOption = Format.table,
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

    with Store() as store:
        play = store.record(play_id, outcome, amount, day)
    if fmt == Format.json:
        print_json(play_dict(play))
    elif fmt == Format.csv:
        emit_rows([play_dict(play)], fmt, COLUMNS)
    else:
        console().print(f"play {play.play_id}: {play.status} on {play.outcome_on}")

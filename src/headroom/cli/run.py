"""``headroom run SOURCE --playbook P --as-of D``: evaluate, record, print plays and decisions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from headroom.cli.main import app, parse_date
from headroom.cli.output import (
    ENGINE_HELP,
    MAPPING_HELP,
    SOURCE_HELP,
    Format,
    console,
    emit_rows,
    load_source,
    print_json,
)
from headroom.cli.plays import play_dict
from headroom.errors import AlreadyRecordedError

if TYPE_CHECKING:
    from headroom.delivery.config import DeliveryConfig
    from headroom.messages import Templates
    from headroom.playbook.model import Playbook
    from headroom.sources import Source
    from headroom.store.database import Store
    from headroom.triggers.evaluate import Decision


@app.command("run")
def run_command(
    source: Path = typer.Argument(..., help=SOURCE_HELP),
    playbook: Path = typer.Option(..., "--playbook", help="The playbook YAML file."),
    as_of: str = typer.Option(..., "--as-of", help="Evaluate as of the end of this day."),
    mapping: Path | None = typer.Option(None, "--mapping", help=MAPPING_HELP),
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Record nothing."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
) -> None:
    """Evaluate a playbook as of a day; record its plays and decisions (once per day)."""
    from headroom.delivery.config import delivery_beside
    from headroom.ingest.events import ingested
    from headroom.messages import load_templates
    from headroom.playbook.model import load_playbook
    from headroom.plays import runs
    from headroom.signals.registry import types
    from headroom.sources.config import resolve
    from headroom.sources.engines import on_engine
    from headroom.store.database import Store
    from headroom.triggers.evidence import describe

    day = parse_date(as_of, "--as-of")
    assert day is not None
    book = load_playbook(playbook, types())
    templates = load_templates(book)  # a template that cannot be filled stops the run here
    delivery = delivery_beside(playbook)
    store = Store()
    try:
        ids = [t.id for t in book.model.triggers]
        if store.run_recorded(day, ids):  # idempotent per as-of day: report what was recorded
            _print_recorded(store, day, ids, fmt)
            return
        # A database is read only as far back as this run looks; files are read whole once
        # and then as they grow.
        reads = runs.reads_of(book, day) if resolve(source, mapping).database else None
        src = on_engine(load_source(source, mapping, reads=reads), engine)
        try:
            src.add_rows("events", ingested(store))  # what the ingest API accepted, too
            if dry_run:
                result = runs.decide(store, src, book, day)
            else:
                result = _recorded(store, src, book, day, templates, delivery)
        except AlreadyRecordedError:  # a run started beside this one recorded the day first
            _print_recorded(store, day, ids, fmt)
            return
        finally:
            src.close()
    finally:
        store.close()
    plays = [
        {
            "play_id": d.play.play_id, "account_id": d.play.account_id,
            "trigger": d.play.trigger, "fired_on": d.play.fired_on, "due_at": d.play.due_at,
            "owner": d.play.owner, "offer": d.play.offer, "priority": d.play.priority,
            "evidence": d.play.evidence, "why": describe(d.play.evidence),
            "playbook_version": d.play.playbook_version,
            "notify": list(d.play.notify), "sla_due_at": d.play.sla_due_at,
        }
        for d in result
        if d.play
    ]  # fmt: skip
    _print(day, plays, [d.to_dict() for d in result], fmt, recorded=False)


def _print_recorded(store: Store, day: dt.date, ids: list[str], fmt: Format) -> None:
    """What the run of ``day`` recorded, as a rerun reports it."""
    stored, rows = store.recorded(day, ids)
    decisions = [
        {k: v for k, v in (("account_id", r.account_id), ("trigger", r.trigger),
                           ("action", r.action), ("reason", r.reason),
                           ("until", r.until), ("play_id", r.play_id)) if v is not None}
        for r in rows
    ]  # fmt: skip
    _print(day, [play_dict(p) for p in stored], decisions, fmt, recorded=True)


def _recorded(
    store: Store,
    src: Source,
    book: Playbook,
    day: dt.date,
    templates: Templates,
    delivery: DeliveryConfig | None,
) -> list[Decision]:
    """Decide and record the run (its plays, decisions and outbox), kept as a run of the
    playbook's version: running, then finished with its counts, or failed with the error."""
    from headroom.delivery.outbox import outbox_for
    from headroom.plays import runs

    version = runs.record_version(store, book)
    with runs.recording(store, "run", version, source=src.name, as_of=day) as run:
        result = runs.decide(store, src, book, day)
        now = dt.datetime.now(dt.UTC)
        outbox = outbox_for(src, book, templates, delivery, result, now)
        try:
            store.record_run(day, result, book.version, outbox, now)
        except AlreadyRecordedError as exc:  # not a failure: the day is recorded, once
            runs.finish_run(store, run.id, {"as_of": day, "note": str(exc)}, 0, 0)
            raise
        order = [t.id for t in book.model.triggers]
        runs.finish_run(
            store, run.id, runs.summary(day, result, order),
            plays_fired=sum(1 for d in result if d.play is not None), decisions=len(result),
        )  # fmt: skip
    return result


def _print(
    day: dt.date,
    plays: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    fmt: Format,
    recorded: bool,
) -> None:
    if fmt == Format.json:
        print_json({"as_of": day, "plays": plays, "decisions": decisions})
        return
    if fmt == Format.csv:
        emit_rows(decisions, fmt, ["account_id", "trigger", "action", "reason", "until", "play_id"])
        return
    out = console()
    note = " (recorded earlier; nothing new)" if recorded else ""
    out.print(f"as of {day}: {len(plays)} plays fired, {len(decisions)} decisions{note}")
    if plays:
        emit_rows(
            [{k: v for k, v in p.items() if k not in ("evidence", "playbook_version")}
             for p in plays],
            fmt, title="Plays",
        )  # fmt: skip

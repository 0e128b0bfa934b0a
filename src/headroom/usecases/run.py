"""Run a playbook as of a day and record what it decided: the use case behind ``headroom run``.

>>> with Store() as store:  # doctest: +SKIP
...     done = run_playbook(store, Path("data"), Path("playbook.yaml"), dt.date(2026, 9, 30))
>>> [p.why for p in done.plays][:1]  # doctest: +SKIP
['seat utilisation 0.91 > 0.85 for 7 days']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from headroom.delivery.config import DeliveryConfig, delivery_beside
from headroom.delivery.outbox import outbox_for
from headroom.errors import AlreadyRecordedError
from headroom.ingest.events import ingested
from headroom.messages import Templates, load_templates
from headroom.playbook.model import Playbook, load_playbook
from headroom.plays import deciding, runs, versions
from headroom.plays.view import DecisionView, PlayView
from headroom.signals.registry import types
from headroom.sources import Source, load
from headroom.sources.config import resolve
from headroom.sources.engines import on_engine
from headroom.store.database import Store
from headroom.store.models import Decision as DecisionRow
from headroom.store.models import Play
from headroom.triggers.decisions import Decision, PlayDraft
from headroom.usecases import Loader


@dataclass(frozen=True)
class PlaybookRun:
    """What a run of a playbook as of a day fired and decided, in a stable order: plays by
    priority then due time, decisions by the playbook's trigger order then account.

    A day is recorded once: when an earlier run recorded it (or one started beside this one
    did, first), the plays and decisions are those it recorded, in the same shape and order,
    and ``recorded_earlier`` says so.
    """

    as_of: dt.date
    plays: list[PlayView]
    decisions: list[DecisionView]
    recorded_earlier: bool = False


def _result(
    day: dt.date,
    book: Playbook,
    plays: Sequence[Play | PlayDraft],
    decisions: Sequence[Decision | DecisionRow],
    earlier: bool = False,
) -> PlaybookRun:
    order = {t.id: i for i, t in enumerate(book.model.triggers)}
    views = sorted((DecisionView.of(d) for d in decisions),
                   key=lambda d: (order.get(d.trigger, len(order)), d.account_id))  # fmt: skip
    return PlaybookRun(day, sorted(map(PlayView.of, plays), key=PlayView.order), views, earlier)


def _earlier(store: Store, day: dt.date, book: Playbook) -> PlaybookRun:
    plays, decisions = store.recorded(day, [t.id for t in book.model.triggers])
    return _result(day, book, plays, decisions, earlier=True)


def _fresh(day: dt.date, book: Playbook, decisions: list[Decision]) -> PlaybookRun:
    fired = [d.play for d in decisions if d.play is not None and d.action == "fired"]
    return _result(day, book, fired, decisions)


def run_playbook(
    store: Store,
    source: Path,
    playbook: Path,
    day: dt.date,
    *,
    mapping: Path | None = None,
    engine: str = "duckdb",
    dry_run: bool = False,
    load_source: Loader = load,
) -> PlaybookRun:
    """Evaluate ``playbook`` on ``source`` as of the end of ``day`` and, unless ``dry_run``,
    record its plays, decisions and outbox in ``store`` (once per day and trigger), kept as a
    run of the playbook's version.

    The playbook and its templates are checked before the source is read. A database source is
    read only as far back as the run looks (:func:`headroom.plays.deciding.reads_of`); the events
    the ingest API accepted are read beside the source's own.
    """
    book = load_playbook(playbook, types())
    templates = load_templates(book)  # a template that cannot be filled stops the run here
    delivery = delivery_beside(playbook)
    ids = [t.id for t in book.model.triggers]
    if store.run_recorded(day, ids):  # idempotent per as-of day: report what was recorded
        return _earlier(store, day, book)
    # A database is read only as far back as this run looks; files are read whole once and
    # then as they grow.
    reads = deciding.reads_of(book, day) if resolve(source, mapping).database else None
    src = on_engine(load_source(source, mapping, reads=reads), engine)
    try:
        src.add_rows("events", ingested(store))  # what the ingest API accepted, too
        if dry_run:
            return _fresh(day, book, deciding.decide(store, src, book, day))
        return _fresh(day, book, _recorded(store, src, book, day, templates, delivery))
    except AlreadyRecordedError:  # a run started beside this one recorded the day first
        return _earlier(store, day, book)
    finally:
        src.close()


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
    version = versions.record_version(store, book)
    with runs.recording(store, "run", version, source=src.name, as_of=day) as run:
        result = deciding.decide(store, src, book, day)
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
            plays_fired=sum(1 for d in result if d.action == "fired"), decisions=len(result),
        )  # fmt: skip
    return result

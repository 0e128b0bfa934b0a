"""What a run of the playbook decides, given what the state store remembers, and what it reads.

The trigger engine (:func:`headroom.triggers.evaluate.evaluate`) decides from a source and a
:class:`~headroom.triggers.decisions.History`; here that history is read from the store (plays
before the day, cooldowns, declines in the store and in the source), for the day's run, a dry
run and the plays an arriving event fires alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from headroom.playbook.model import Playbook
from headroom.sources import Source, empty_source
from headroom.sources.read_typed import DATED_BY
from headroom.store.database import Store
from headroom.triggers.decisions import Decision, History, source_declines
from headroom.triggers.evaluate import evaluate


def reads_of(book: Playbook, day: dt.date) -> dict[str, dt.date | None]:
    """What a run of ``book`` as of ``day`` reads of the source's dated tables: the first day
    of each (None: all of it; a table not named is not read). Found by running the decision
    on a source with no rows, so a user's own signals count as the built-in ones do: a
    database source is then read from those days on, not whole (see
    :func:`headroom.sources.validate`).
    """
    empty = empty_source()
    try:
        evaluate(empty, book, day, History())
        # a dated table it does not read: none of its rows (from the day after)
        return {name: day + dt.timedelta(days=1) for name in DATED_BY} | empty.reads
    finally:
        empty.close()


def decide(
    store: Store,
    source: Source,
    book: Playbook,
    day: dt.date,
    accounts: Sequence[str] | None = None,
) -> list[Decision]:
    """What a run of the playbook as of ``day`` decides, given the store's history (plays
    before the day, declines); nothing is recorded. ``accounts``: only theirs."""
    groups = {t.id: t.cooldown.group for t in book.model.triggers if t.cooldown}
    history = store.history(groups, day, source_declines(source, day))
    return evaluate(source, book, day, history, accounts=accounts)

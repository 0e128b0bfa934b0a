"""Leases: one process at a time acts for a name (the scheduler of a store), and another takes
over when the holder stops renewing (it was killed, or its machine went down).

A lease is a row, taken or renewed by one conditional UPDATE (or the INSERT that creates it),
so it works alike on SQLite and PostgreSQL: of two processes asking at once, the database lets
one statement win.

>>> lease = Lease(store, "scheduler", "host-a:4242")  # doctest: +SKIP
>>> lease.hold(now)  # doctest: +SKIP
True
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from headroom.store.database import Store
from headroom.store.models import Lease as LeaseRow

#: How long a lease lasts without renewal: a holder renews it far more often than this.
TERM = dt.timedelta(seconds=90)


class Lease:
    """``holder``'s claim on ``name`` in ``store``."""

    def __init__(self, store: Store, name: str, holder: str, term: dt.timedelta = TERM) -> None:
        self.store, self.name, self.holder, self.term = store, name, holder, term

    def hold(self, now: dt.datetime) -> bool:
        """Take or renew the lease until ``now + term``; False while another holds it."""
        until = now + self.term
        with self.store.session() as s:
            taken = s.execute(
                update(LeaseRow)
                .where(LeaseRow.name == self.name)
                .where(or_(LeaseRow.holder == self.holder, LeaseRow.expires_at < now))
                .values(holder=self.holder, expires_at=until)
            ).rowcount  # type: ignore[attr-defined]
        if taken:
            return True
        try:
            with self.store.session() as s:
                s.add(LeaseRow(name=self.name, holder=self.holder, expires_at=until))
            return True
        except IntegrityError:  # the row exists, held by another (or made by one just now)
            return False

    def release(self) -> None:
        """Let another take it at once (a process stopping cleanly)."""
        with self.store.session() as s:
            s.execute(
                update(LeaseRow)
                .where(LeaseRow.name == self.name, LeaseRow.holder == self.holder)
                .values(expires_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
            )

    def holder_now(self) -> str | None:
        """Who holds it (None: nobody has yet)."""
        with self.store.session() as s:
            row = s.get(LeaseRow, self.name)
            return row.holder if row is not None else None

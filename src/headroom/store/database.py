"""Opening the state store: the database at HEADROOM_DATABASE_URL, migrated to the newest schema.

SQLite (a file in the workspace) by default, PostgreSQL in production. Every open runs the
Alembic migrations up to head first, so an older store is upgraded in place and a new one is
created; the schema is never made by ``create_all`` behind the migrations' back.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from headroom.config import settings
from headroom.errors import AlreadyRecordedError, ConfigError, UsageError
from headroom.store.models import Decision as DecisionRow
from headroom.store.models import Delivery as DeliveryRow
from headroom.store.models import Play, deadline_of
from headroom.store.models import Secret as SecretRow

if TYPE_CHECKING:
    from headroom.messages.queued import Queued
    from headroom.triggers.decisions import Decision, History, PlayDraft

MIGRATIONS = Path(__file__).with_name("migrations")
#: A play's status: open until someone records an outcome; final once closed.
OPEN = ("open", "contacted")
CLOSED = ("won", "lost", "declined")
OUTCOMES = ("contacted", *CLOSED)
#: Amounts are stored as NUMERIC(18, 4): below this, to the cent and beyond.
MAX_AMOUNT = Decimal(10) ** 14
_T = TypeVar("_T")
#: Rows written, or ids looked up, per statement.
BATCH = 5_000


def aware(t: dt.datetime) -> dt.datetime:
    """A time read back from the store, in UTC: SQLite hands back naive datetimes (every time
    is written in UTC), PostgreSQL aware ones."""
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


#: The PostgreSQL advisory lock migrations hold (any fixed number, the same in every process).
_MIGRATION_LOCK = 0x68656164


@contextmanager
def _one_migrator(engine: Engine, url: str) -> Iterator[None]:
    """Migrate one process at a time: two servers started together on a new store would both
    create its tables, and the second would fail half-way. PostgreSQL: an advisory lock held
    by a connection of its own; SQLite: a lock on a file beside the database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as con:
            con.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
            try:
                yield
            finally:
                con.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
                con.commit()
        return
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    if path is None or path == ":memory:" or not path:
        yield
        return
    import fcntl

    with Path(path + ".migrating").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Store:
    """The state store of one database URL."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or settings().state_url
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if self.url.startswith("postgresql://"):  # the installed driver is psycopg 3
            self.url = "postgresql+psycopg://" + self.url.removeprefix("postgresql://")
        try:
            self.engine: Engine = create_engine(self.url)
            with _one_migrator(self.engine, self.url):
                command.upgrade(_alembic(self.url), "head")
        except (OperationalError, SQLAlchemyError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(
                f"cannot open the state store at {self.url} ({first})",
                fix="check HEADROOM_DATABASE_URL, and that the database server is running",
            ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def unready(self) -> str | None:
        """Why the store cannot serve now (None: it can): the database does not answer, or its
        tables are not at the schema this headroom expects (a newer or older one)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        try:
            with self.engine.connect() as con:
                current = set(MigrationContext.configure(con).get_current_heads())
        except SQLAlchemyError as exc:
            return f"the state store does not answer ({str(exc).strip().splitlines()[0]})"
        expected = set(ScriptDirectory.from_config(_alembic(self.url)).get_heads())
        if current != expected:
            found = ", ".join(sorted(current)) or "none"
            return f"the state store's schema is at {found}, not {', '.join(sorted(expected))}"
        return None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any error."""
        with self._sessions.begin() as s:
            yield s

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plays ----------------------------------------------------------------------------------

    def plays(self, status: str | None = None) -> list[Play]:
        with self.session() as s:
            q = select(Play).order_by(Play.priority, Play.due_at, Play.play_id)
            if status:
                q = q.where(Play.status == status)
            return list(s.scalars(q))

    def record(
        self,
        play_id: str,
        outcome: str,
        amount_mrr: Decimal | None = None,
        on: dt.date | None = None,
    ) -> Play:
        """Record a play's outcome (contacted, won, lost, declined)."""
        if outcome not in OUTCOMES:
            raise UsageError(
                f"--outcome {outcome!r} is not an outcome", fix=f"use one of {', '.join(OUTCOMES)}"
            )
        if amount_mrr is not None and outcome != "won":
            raise UsageError(
                f"--amount-mrr goes with a won play, not {outcome}", fix="leave it out"
            )
        if amount_mrr is not None and not amount_mrr.is_finite():
            raise UsageError(
                f"--amount-mrr {amount_mrr} is not a finite number", fix="pass the added MRR"
            )
        if amount_mrr is not None and amount_mrr < 0:
            raise UsageError(f"--amount-mrr {amount_mrr} is negative", fix="pass the added MRR")
        if amount_mrr is not None and amount_mrr >= MAX_AMOUNT:
            raise UsageError(
                f"--amount-mrr {amount_mrr} is too large (amounts are below {MAX_AMOUNT:,})",
                fix="pass the added MRR",
            )
        with self.session() as s:
            play = s.get(Play, play_id)
            if play is None:
                raise UsageError(
                    f"no play {play_id!r} in the state store",
                    fix="headroom plays list shows the play ids",
                )
            if play.status == "held_out":
                raise UsageError(
                    f"play {play_id} is held out: a control of its trigger's experiment",
                    fix="a held-out account gets no play to win or lose; its expansions count "
                    "in headroom experiments",
                )
            if play.status in CLOSED:
                raise UsageError(
                    f"play {play_id} is already {play.status}",
                    fix="outcomes are final once won, lost or declined",
                )
            play.status = outcome
            play.outcome_on = on or dt.date.today()
            play.amount_mrr = float(amount_mrr) if amount_mrr is not None else None
            return play

    # -- runs -----------------------------------------------------------------------------------

    def history(
        self, groups: dict[str, str], as_of: dt.date, declines: dict[str, dt.date]
    ) -> History:
        """What decisions depend on, from plays before ``as_of`` (and the source's declines).

        ``groups`` maps trigger ids to their cooldown group.
        """
        # the trigger engine imports ibis: commands that only read the store need not wait for it
        from headroom.triggers.decisions import History

        out = History(declined_on=dict(declines), id_key=self.play_key())
        with self.session() as s:
            for play in s.scalars(
                select(Play).where(Play.fired_on < as_of).order_by(Play.fired_on)
            ):
                # a control stays "in its play" as the treated do until theirs ends: it is not
                # drawn again each day
                if play.status in OPEN or play.status == "held_out":
                    out.open_plays.add((play.account_id, play.trigger))
                if play.experiment is not None and play.arm is not None:
                    out.arms.setdefault((play.experiment, play.account_id, play.trigger), play.arm)
                group = groups.get(play.trigger)
                if group is not None:
                    key = (play.account_id, group)
                    out.last_fired[key] = max(out.last_fired.get(key, play.fired_on), play.fired_on)
                if play.status == "declined" and play.outcome_on and play.outcome_on <= as_of:
                    seen = out.declined_on.get(play.account_id)
                    out.declined_on[play.account_id] = max(seen or play.outcome_on, play.outcome_on)
        return out

    def play_key(self) -> bytes:
        """The key play ids are made with: made once per state store, on first use (two
        processes making it at once keep the first)."""
        with self.session() as s:
            row = s.get(SecretRow, "play_ids")
            if row is not None:
                return bytes.fromhex(row.value)
        try:
            with self.session() as s:
                s.add(SecretRow(name="play_ids", value=secrets.token_hex(32)))
        except IntegrityError:
            pass
        with self.session() as s:
            row = s.get(SecretRow, "play_ids")
            assert row is not None
            return bytes.fromhex(row.value)

    def run_recorded(self, as_of: dt.date, triggers: Collection[str]) -> bool:
        """Whether a run of ``as_of`` already decided for any of these triggers."""
        with self.session() as s:
            count = s.scalar(
                select(func.count()).where(
                    DecisionRow.as_of == as_of, DecisionRow.trigger.in_(list(triggers))
                )
            )
            return bool(count)

    def recorded(
        self, as_of: dt.date, triggers: Collection[str]
    ) -> tuple[list[Play], list[DecisionRow]]:
        """The plays fired and decisions taken for these triggers by the run of ``as_of``."""
        ids = list(triggers)
        with self.session() as s:
            decisions = list(
                s.scalars(
                    select(DecisionRow)
                    .where(DecisionRow.as_of == as_of, DecisionRow.trigger.in_(ids))
                    .order_by(DecisionRow.trigger, DecisionRow.account_id)
                )
            )
            plays = list(
                s.scalars(
                    select(Play)
                    .where(Play.fired_on == as_of, Play.trigger.in_(ids))
                    .order_by(Play.priority, Play.due_at)
                )
            )
        return plays, decisions

    def record_run(
        self,
        as_of: dt.date,
        decisions: list[Decision],
        version: str,
        deliveries: Sequence[Queued] = (),
        now: dt.datetime | None = None,
    ) -> None:
        """Every decision and play of a run, and the deliveries of its plays (the outbox), in
        one transaction: a play is never recorded without its messages, nor they without it."""
        now = now or dt.datetime.now(dt.UTC)
        plays = [d.play for d in decisions if d.play is not None]
        rows = (
            {
                "as_of": as_of,
                "account_id": d.account_id,
                "trigger": d.trigger,
                "action": d.action,
                "reason": d.reason,
                "until": d.until,
                "play_id": d.play.play_id if d.play else None,
                "playbook_version": version,
            }
            for d in decisions
        )
        try:
            with self.session() as s:
                # Inserted in batches of rows, not as objects one by one: a run over a million
                # accounts decides for a quarter of them, and the unit of work took minutes.
                for batch in _batches(rows):
                    s.execute(insert(_table(DecisionRow)), batch)
                _add_plays(s, plays, deliveries, now)
        except IntegrityError:
            # Two runs of one day started together: the other committed first (its rows are
            # whole, ours rolled back). Anything else is not ours to explain away.
            if not self.run_recorded(as_of, sorted({d.trigger for d in decisions})):
                raise
            raise AlreadyRecordedError(
                f"another run recorded {as_of} while this one was deciding",
                fix="nothing to do: its plays and decisions are the day's",
            ) from None

    def record_plays(
        self, plays: Sequence[PlayDraft], deliveries: Sequence[Queued], now: dt.datetime
    ) -> list[PlayDraft]:
        """Plays fired between runs (by an ingested event) with their deliveries, in one
        transaction; the day's run later records its decisions beside them. The plays not
        recorded before are returned."""
        with self.session() as s:
            return _add_plays(s, plays, deliveries, now)


def _add_plays(
    s: Session, plays: Sequence[PlayDraft], deliveries: Sequence[Queued], now: dt.datetime
) -> list[PlayDraft]:
    """Add the plays and deliveries not in the store yet (a play an event fired during the day
    is fired again by that day's run: same id, recorded once)."""
    known = _present(s, Play.play_id, [p.play_id for p in plays])
    new = [p for p in plays if p.play_id not in known]
    rows = (_play_row(p, now) for p in new)
    for batch in _batches(rows):
        s.execute(insert(_table(Play)), batch)
    sent = _present(s, DeliveryRow.delivery_id, [q.delivery_id for q in deliveries])
    for q in deliveries:
        if q.delivery_id not in sent:
            s.add(delivery_row(q, now))
    return new


def _table(model: type[DecisionRow] | type[Play]) -> Table:
    """A model's table: rows inserted into it as rows (executemany), not as objects."""
    return cast(Table, model.__table__)


def _batches(items: Iterable[_T], size: int = BATCH) -> Iterator[list[_T]]:
    """``items`` in lists of ``size`` (the last shorter)."""
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def _present(s: Session, key: Any, ids: Sequence[str]) -> set[str]:
    """The ``ids`` already stored under the primary key ``key``, asked in batches: a database
    takes so many parameters in one statement (PostgreSQL's driver 65,535)."""
    found: set[str] = set()
    for batch in _batches(ids):
        found.update(s.scalars(select(key).where(key.in_(batch))))
    return found


def _play_row(p: PlayDraft, now: dt.datetime) -> dict[str, Any]:
    """The store's row of a new play (open)."""
    row = {
        "play_id": p.play_id,
        "account_id": p.account_id,
        "trigger": p.trigger,
        "fired_on": p.fired_on,
        "due_at": p.due_at,
        "owner": p.owner,
        "offer": p.offer,
        "priority": p.priority,
        "evidence": jsonable(p.evidence),
        "playbook_version": p.playbook_version,
        # a control is recorded like a play, never delivered nor queued
        "status": "held_out" if p.arm == "held_out" else "open",
        "created_at": now,
        "notify": list(p.notify),
        "sla_due_at": p.sla_due_at,
        "role": p.role or None,
        "escalate": list(p.escalate),
        "segment": p.segment,
        "experiment": p.experiment,
        "arm": p.arm,
    }
    row["deadline_at"] = deadline_of(row)
    return row


def delivery_row(q: Queued, now: dt.datetime) -> DeliveryRow:
    """The outbox row of a delivery, queued as of ``now``."""
    return DeliveryRow(
        delivery_id=q.delivery_id,
        play_id=q.play_id,
        target=q.target,
        channel=q.channel,
        recipient=q.recipient,
        kind=q.message.kind,
        subject=q.message.subject,
        body=q.message.body,
        payload=jsonable(q.payload),
        status="draft" if q.approve else "queued",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def jsonable(value: Any) -> Any:
    """Evidence and payloads as JSON can hold them: decimals as floats, dates as text, NaN as
    null, nested as they are."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value

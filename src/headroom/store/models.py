"""The state store's tables. Changing them needs a migration in ``migrations/versions``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Play(Base):
    """A fired trigger for one account: the conversation to have, with its evidence."""

    __tablename__ = "plays"
    __table_args__ = (
        Index("ix_plays_queue", "status", "priority", "deadline_at"),
        Index("ix_plays_experiment", "experiment", "trigger"),
    )

    play_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200), index=True)
    trigger: Mapped[str] = mapped_column(String(100), index=True)
    fired_on: Mapped[dt.date] = mapped_column(Date)
    due_at: Mapped[str] = mapped_column(String(40))  # ISO 8601 with the customer's offset
    owner: Mapped[str] = mapped_column(String(200))
    offer: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    playbook_version: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    outcome_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    amount_mrr: Mapped[float | None] = mapped_column(Numeric(18, 4), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    notify: Mapped[list[str]] = mapped_column(JSON, default=list)
    sla_due_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    role: Mapped[str | None] = mapped_column(String(100), nullable=True)  # owner's role
    escalate: Mapped[list[str]] = mapped_column(JSON, default=list)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The account's segment when the play fired (the queue filters by it without the source).
    segment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: When the play must be acted on, in UTC: its SLA if routing set one, else its due time.
    #: Kept beside the texts (which carry the customer's offset) so that the queue is ordered
    #: and filtered by the database.
    deadline_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=lambda ctx: deadline_of(ctx.get_current_parameters())
    )
    #: With a holdout: the experiment the account was drawn in, and its arm (treated, or
    #: held_out: a control, whose status is held_out for good)
    experiment: Mapped[str | None] = mapped_column(String(200), nullable=True)
    arm: Mapped[str | None] = mapped_column(String(20), nullable=True)


def deadline_of(row: dict[str, Any]) -> dt.datetime:
    """The deadline of a play row (``sla_due_at`` or ``due_at``, ISO 8601 with the customer's
    offset) in UTC (a time without an offset is taken as UTC)."""
    at = dt.datetime.fromisoformat(row.get("sla_due_at") or row["due_at"])
    return at.astimezone(dt.UTC) if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


class Decision(Base):
    """What a run decided for an account and trigger: fired, or skipped and why."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("as_of", "account_id", "trigger", name="one_decision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    account_id: Mapped[str] = mapped_column(String(200), index=True)
    trigger: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))  # fired | skipped
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    play_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    playbook_version: Mapped[str] = mapped_column(String(40))


class Delivery(Base):
    """One message of a play to one recipient, in the outbox until a channel has it.

    ``delivery_id`` is also the idempotency key a channel is given: the same on every attempt,
    so that a receiver that honours it never acts twice (see :mod:`headroom.delivery`).
    """

    __tablename__ = "deliveries"

    delivery_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    play_id: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(100))  # the owner or routing name it is for
    channel: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # email | brief | alert
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)  # draft|queued|sending|sent|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claim: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class IngestedEvent(Base):
    """A product event accepted by the ingest API: kept here durably (accepted means committed)
    and read by every later run beside the source's own events. ``message_id`` makes ingest
    idempotent: a client that retries a batch adds nothing twice."""

    __tablename__ = "ingested_events"

    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200), index=True)
    user_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    event: Mapped[str] = mapped_column(String(200), index=True)
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    """Someone who signs in to the web app (see :mod:`headroom.users`)."""

    __tablename__ = "users"

    login: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))  # admin | manager | csm | ae
    owner: Mapped[str] = mapped_column(String(200), index=True)  # as plays name them
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: Set by ``headroom users disable``: no sign-in, session or token works for them.
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiToken(Base):
    """A token for the JSON API; only a SHA-256 of its secret part is kept."""

    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    login: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random id, the store its SHA-256 (a copied
    database opens no sessions), with the session's CSRF token."""

    __tablename__ = "web_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(200), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class Run(Base):
    """One run of the playbook (``headroom run``) or one backtest, from start to finish: what it
    was asked, how it ended, and its result (a backtest's scores are stored because computing
    them takes seconds to minutes on a large source)."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_kind_started", "kind", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # run | backtest
    status: Mapped[str] = mapped_column(String(20), index=True)  # running | finished | failed
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_by: Mapped[str] = mapped_column(String(200))  # a login, or "cli"
    source: Mapped[str | None] = mapped_column(String(500), nullable=True)  # the source's name
    as_of: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # a run's day
    start_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # a backtest's range
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    horizon_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sweep: Mapped[str | None] = mapped_column(String(200), nullable=True)  # as --sweep takes it
    playbook_version: Mapped[str] = mapped_column(String(40), index=True)
    plays_fired: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decisions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: When the running process last said it is alive (a run whose process was killed stops
    #: saying so, and is then marked failed).
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PlaybookVersion(Base):
    """A playbook's text as it was when a run, a backtest or the server first used it, under
    its version (the content hash that plays and decisions carry)."""

    __tablename__ = "playbook_versions"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # the playbook's own name: setting
    file_name: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class Secret(Base):
    """A secret of this installation, made on first use (the key play ids are made with)."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class Cycle(Base):
    """One day's scheduled cycle (refresh the source, run each playbook as of the day, deliver):
    at most one per day, so that several processes on one store run each day once."""

    __tablename__ = "cycles"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # the day it runs as of
    status: Mapped[str] = mapped_column(String(20), index=True)  # running | finished | failed
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    holder: Mapped[str] = mapped_column(String(200))  # the process that ran it last
    attempts: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # what each step did
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Lease(Base):
    """Who may act for a name until when (the scheduler: one process at a time per store)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

"""The state store's tables. Changing them needs a migration in ``migrations/versions``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Play(Base):
    """A fired trigger for one account: the conversation to have, with its evidence."""

    __tablename__ = "plays"

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

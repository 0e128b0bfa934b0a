"""Plays and decisions.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plays",
        sa.Column("play_id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        sa.Column("fired_on", sa.Date(), nullable=False),
        sa.Column("due_at", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("offer", sa.String(100), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("playbook_version", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome_on", sa.Date(), nullable=True),
        sa.Column("amount_mrr", sa.Numeric(18, 4), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("play_id", sa.String(40), nullable=True),
        sa.Column("playbook_version", sa.String(40), nullable=False),
        sa.UniqueConstraint("as_of", "account_id", "trigger", name="one_decision"),
    )
    op.create_index("ix_plays_account_id", "plays", ["account_id"])
    op.create_index("ix_plays_trigger", "plays", ["trigger"])
    op.create_index("ix_plays_status", "plays", ["status"])
    op.create_index("ix_decisions_as_of", "decisions", ["as_of"])
    op.create_index("ix_decisions_account_id", "decisions", ["account_id"])


def downgrade() -> None:
    op.drop_table("decisions")
    op.drop_table("plays")

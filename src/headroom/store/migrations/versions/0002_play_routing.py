"""Plays carry who is notified and their SLA deadline.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plays", sa.Column("notify", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("plays", sa.Column("sla_due_at", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("plays", "sla_due_at")
    op.drop_column("plays", "notify")

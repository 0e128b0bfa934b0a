"""Plays carry their account's segment when they fired, so that the queue filters by segment
in the database (the segment otherwise lives in the source). Plays recorded before have none.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plays", sa.Column("segment", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plays") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("segment")

"""Holdout experiments: the experiment a play's account was drawn in, and its arm (a held-out
play is a control: recorded, never delivered nor queued).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plays") as t:
        t.add_column(sa.Column("experiment", sa.String(200), nullable=True))
        t.add_column(sa.Column("arm", sa.String(20), nullable=True))
    op.create_index("ix_plays_experiment", "plays", ["experiment", "trigger"])


def downgrade() -> None:
    op.drop_index("ix_plays_experiment", table_name="plays")
    with op.batch_alter_table("plays") as t:
        t.drop_column("arm")
        t.drop_column("experiment")

"""Runs and backtests with their results (a backtest takes too long to compute per request, so
the web app reads stored ones), and the playbook's text under each version that ran.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("horizon_days", sa.Integer(), nullable=True),
        sa.Column("sweep", sa.String(200), nullable=True),
        sa.Column("playbook_version", sa.String(40), nullable=False),
        sa.Column("plays_fired", sa.Integer(), nullable=True),
        sa.Column("decisions", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_runs_kind_started", "runs", ["kind", "started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_playbook_version", "runs", ["playbook_version"])
    op.create_table(
        "playbook_versions",
        sa.Column("version", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_playbook_versions_first_seen_at", "playbook_versions", ["first_seen_at"])


def downgrade() -> None:
    op.drop_table("playbook_versions")
    op.drop_table("runs")

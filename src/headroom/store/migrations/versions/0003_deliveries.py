"""The delivery outbox: each play's messages and alerts until a channel has them; and the
role a play's owner was picked by (csm, ae, self_serve, ...), which says where its draft goes;
who hears when a play outlives its SLA, and when they did; and the events the ingest API
accepted.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plays", sa.Column("role", sa.String(100), nullable=True))
    op.add_column("plays", sa.Column("escalate", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("plays", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(40), primary_key=True),
        sa.Column("play_id", sa.String(40), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim", sa.String(40), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_deliveries_play_id", "deliveries", ["play_id"])
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.create_index("ix_deliveries_next_attempt_at", "deliveries", ["next_attempt_at"])
    op.create_index("ix_deliveries_claim", "deliveries", ["claim"])
    op.create_table(
        "ingested_events",
        sa.Column("message_id", sa.String(200), primary_key=True),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=True),
        sa.Column("event", sa.String(200), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ingested_events_account_id", "ingested_events", ["account_id"])
    op.create_index("ix_ingested_events_event", "ingested_events", ["event"])
    op.create_index("ix_ingested_events_timestamp", "ingested_events", ["timestamp"])


def downgrade() -> None:
    op.drop_table("ingested_events")
    op.drop_table("deliveries")
    op.drop_column("plays", "escalated_at")
    op.drop_column("plays", "escalate")
    op.drop_column("plays", "role")

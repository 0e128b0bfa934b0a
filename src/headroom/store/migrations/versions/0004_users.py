"""Users of the web app (argon2id password hashes, a role, the owner name plays carry for
them), their API tokens (a SHA-256 of the secret; revocable) and signed-in sessions; and each
play's deadline in UTC, so that the queue is ordered and paged by the database.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plays", sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    plays = sa.table(
        "plays",
        sa.column("play_id", sa.String),
        sa.column("due_at", sa.String),
        sa.column("sla_due_at", sa.String),
        sa.column("deadline_at", sa.DateTime(timezone=True)),
    )
    rows = bind.execute(sa.select(plays.c.play_id, plays.c.due_at, plays.c.sla_due_at)).all()
    for play_id, due_at, sla_due_at in rows:
        at = dt.datetime.fromisoformat(sla_due_at or due_at)
        at = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
        bind.execute(plays.update().where(plays.c.play_id == play_id).values(deadline_at=at))
    with op.batch_alter_table("plays") as batch:
        batch.alter_column("deadline_at", nullable=False)
    op.create_index("ix_plays_queue", "plays", ["status", "priority", "deadline_at"])
    op.create_table(
        "users",
        sa.Column("login", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_users_owner", "users", ["owner"])
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(12), primary_key=True),
        sa.Column("login", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_tokens_login", "api_tokens", ["login"])
    op.create_table(
        "web_sessions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("login", sa.String(200), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_sessions_login", "web_sessions", ["login"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_plays_queue", "plays")
    op.drop_column("plays", "deadline_at")
    op.drop_table("web_sessions")
    op.drop_table("api_tokens")
    op.drop_table("users")

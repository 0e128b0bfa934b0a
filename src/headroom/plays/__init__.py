"""Plays: the state store of plays, decisions and outcomes (SQLAlchemy, Alembic migrations)."""

"""Settings as data: each has a name, a default and a help text, read once from the environment."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from pydantic import BaseModel, Field


class Settings(BaseModel):
    """Process-wide settings. Everything else is configured per command or per file."""

    workspace: Path = Field(
        default=Path(".headroom"),
        description="Folder for headroom's own files: loaded sources, the default state store.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the state store; default an SQLite file in the workspace.",
    )

    @property
    def state_url(self) -> str:
        return self.database_url or f"sqlite:///{self.workspace / 'state.sqlite'}"


ENVIRONMENT = {"workspace": "HEADROOM_WORKSPACE", "database_url": "HEADROOM_DATABASE_URL"}


@cache
def settings() -> Settings:
    """The settings of this process (``HEADROOM_WORKSPACE``, ``HEADROOM_DATABASE_URL``)."""
    values = {field: os.environ[var] for field, var in ENVIRONMENT.items() if os.environ.get(var)}
    return Settings.model_validate(values)

"""Settings as data: each has a name, a default and a help text, read once from the environment."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from pydantic import BaseModel, Field, field_validator


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
    switch_to_all: tuple[str, ...] = Field(
        default=("csm", "ae"),
        description="Roles that, seeing their own plays by default, may switch to everyone's "
        "(comma-separated; admins and managers always see everyone's).",
    )

    @field_validator("switch_to_all", mode="before")
    @classmethod
    def _roles(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(r.strip() for r in value.split(",") if r.strip())
        return value

    @property
    def state_url(self) -> str:
        return self.database_url or f"sqlite:///{self.workspace / 'state.sqlite'}"


ENVIRONMENT = {
    "workspace": "HEADROOM_WORKSPACE",
    "database_url": "HEADROOM_DATABASE_URL",
    "switch_to_all": "HEADROOM_SWITCH_TO_ALL",
}


@cache
def settings() -> Settings:
    """The settings of this process (``HEADROOM_WORKSPACE``, ``HEADROOM_DATABASE_URL``,
    ``HEADROOM_SWITCH_TO_ALL``)."""
    # An empty variable is unset, but for a list of roles, where it means none of them.
    values = {
        field: os.environ[var]
        for field, var in ENVIRONMENT.items()
        if os.environ.get(var) or (field == "switch_to_all" and var in os.environ)
    }
    return Settings.model_validate(values)

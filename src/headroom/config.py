"""Settings as data: each has a name, a default and a help text, read once from the environment."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from headroom.errors import ConfigError


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

    memory_limit: str = Field(
        default="4GB",
        description="How much memory headroom's work over a source may take (loading, runs, "
        "backtests): DuckDB keeps within its share and spills to the workspace beyond it.",
    )

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_size(value)  # raises ValueError with the fix
        return value.strip()

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory_limit)

    @field_validator("switch_to_all", mode="before")
    @classmethod
    def _roles(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(r.strip() for r in value.split(",") if r.strip())
        return value

    @property
    def state_url(self) -> str:
        return self.database_url or f"sqlite:///{self.workspace / 'state.sqlite'}"


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """Bytes in a size such as ``4GB``, ``512 MiB`` or ``3.5gb``.

    >>> parse_size("4GB"), parse_size("512 MiB")
    (4000000000, 536870912)
    """
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _UNITS or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a size (a number and a unit, e.g. 4GB or 512MB)")
    return int(float(m.group(1)) * _UNITS[unit])


def environ(name: str) -> str | None:
    """An environment variable, or the contents of the file its ``<name>_FILE`` names (how
    container and systemd secrets are handed over: the secret never sits in the environment).

    Setting both is refused, as is a file that cannot be read; one trailing line break of the
    file is dropped (editors add one).
    """
    given, path = os.environ.get(name), os.environ.get(f"{name}_FILE")
    if path is None:
        return given
    if given is not None:
        raise ConfigError(
            f"both {name} and {name}_FILE are set",
            fix=f"set one of them: {name}_FILE for a secret kept in a file",
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(
            f"{name}_FILE names {path}, which cannot be read ({reason})",
            fix=f"point {name}_FILE at a readable UTF-8 file holding the value",
        ) from None
    return text.removesuffix("\n").removesuffix("\r")


ENVIRONMENT = {
    "memory_limit": "HEADROOM_MEMORY_LIMIT",
    "workspace": "HEADROOM_WORKSPACE",
    "database_url": "HEADROOM_DATABASE_URL",
    "switch_to_all": "HEADROOM_SWITCH_TO_ALL",
}


@cache
def settings() -> Settings:
    """The settings of this process (``HEADROOM_WORKSPACE``, ``HEADROOM_DATABASE_URL``,
    ``HEADROOM_SWITCH_TO_ALL``, ``HEADROOM_MEMORY_LIMIT``), each also from a file named by
    ``<variable>_FILE`` (see :func:`environ`)."""
    # An empty variable is unset, but for a list of roles, where it means none of them.
    read = {field: environ(var) for field, var in ENVIRONMENT.items()}
    values = {
        field: value
        for field, value in read.items()
        if value or (field == "switch_to_all" and value is not None)
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        var = ENVIRONMENT.get(str(first["loc"][0]), str(first["loc"][0]))
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{var}: {reason}", fix=f"set {var} again, or unset it") from None

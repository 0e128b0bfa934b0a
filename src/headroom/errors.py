"""One root exception for everything a user can get wrong.

Every adapter (CLI, HTTP API, pages) catches :class:`HeadroomError` and nothing else: the
CLI prints ``str(error)`` on stderr and exits with :attr:`HeadroomError.exit_code`; the API
answers with :attr:`HeadroomError.http_status` and :meth:`HeadroomError.to_dict`. Any other
exception is a bug in headroom, not a user's mistake.
"""

from __future__ import annotations

from typing import Any


class HeadroomError(Exception):
    """Bad input, told as what happened, where, the bad value and the fix.

    >>> err = HeadroomError("--days must be at least 1, got 0", fix="pass --days 365")
    >>> str(err)
    '--days must be at least 1, got 0; pass --days 365'
    """

    exit_code: int = 1
    http_status: int = 400
    code: str = "bad_input"

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}" if self.fix else self.message

    def to_dict(self) -> dict[str, Any]:
        """The one JSON error shape every API route answers with."""
        return {"error": {"code": self.code, "message": self.message, "fix": self.fix}}


class NotFoundError(HeadroomError):
    """What was asked for does not exist (a play id, a route)."""

    code = "not_found"
    http_status = 404


class UnauthorizedError(HeadroomError):
    """Who is asking is unknown: no credentials, or bad ones."""

    code = "unauthorized"
    http_status = 401


class ForbiddenError(HeadroomError):
    """Who is asking is known, and their role does not allow it."""

    code = "forbidden"
    http_status = 403


class UsageError(HeadroomError):
    """A command-line option or argument that cannot be used as given."""

    code = "bad_option"


class ConfigError(HeadroomError):
    """A configuration file (source mapping, playbook) that cannot be used."""

    code = "bad_config"


class SourceError(HeadroomError):
    """A data source with errors: nothing of it was loaded.

    Carries the whole :class:`~headroom.sources.report.Report` so adapters can show every
    problem, not just the first.
    """

    code = "bad_source"
    http_status = 422

    def __init__(self, message: str, *, report: Any = None, fix: str | None = None) -> None:
        self.report = report
        super().__init__(message, fix=fix)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.report is not None:
            out["error"]["report"] = self.report.to_dict()
        return out


class MemoryLimitError(HeadroomError):
    """Work over a source needed more memory than the limit gives it, and could not spill."""

    code = "out_of_memory"
    http_status = 503


class AlreadyRecordedError(HeadroomError):
    """Another run recorded the same as-of day first (two runs started together)."""

    code = "already_recorded"
    http_status = 409

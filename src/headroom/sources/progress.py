"""How long work over a source tells how far it has got: the loader's side of a progress bar.

The core reports steps (reading a table, checking it, storing it) through :class:`Progress`;
an adapter draws them (the CLI shows a bar per step on a terminal, with rows per second) or
ignores them. A step with a ``total`` advances in its ``unit``; one without is a spinner.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives the steps of a long piece of work, in the order they happen."""

    def start(self, step: str, total: int | None = None, unit: str = "rows") -> None:
        """A step begins: ``read usage_daily.parquet``, ``check usage_daily``, ..."""

    def advance(self, step: str, amount: int) -> None:
        """``amount`` more units of ``step`` are done."""

    def finish(self, step: str) -> None:
        """``step`` is over (also after a failure)."""


class Silent:
    """Progress nobody watches (the default)."""

    def start(self, step: str, total: int | None = None, unit: str = "rows") -> None:
        return None

    def advance(self, step: str, amount: int) -> None:
        return None

    def finish(self, step: str) -> None:
        return None


SILENT: Progress = Silent()

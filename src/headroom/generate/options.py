"""What to generate and what was written, in a module that loads neither numpy nor pyarrow.

The command line reads its defaults from here when it starts, ``--help`` included.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from headroom.errors import UsageError

DEFAULT_END = dt.date(2026, 9, 30)
#: Bumped whenever the same options would give different files, so that copies are remade.
VERSION = 2


@dataclass(frozen=True)
class Options:
    """What to generate. The defaults make the demo source."""

    accounts: int = 2000
    days: int = 730
    seed: int = 7
    end: dt.date = DEFAULT_END  # the last day with data (inclusive)
    parquet: bool = False

    def check(self) -> None:
        if self.accounts < 1:
            raise UsageError(
                f"--accounts {self.accounts} is too small", fix="ask for at least 1 account"
            )
        if self.days < 60:
            raise UsageError(
                f"--days {self.days} is too short",
                fix="ask for at least 60 days: readiness builds up over weeks",
            )
        if self.seed < 0:
            raise UsageError(f"--seed {self.seed} is negative", fix="use a seed >= 0")


@dataclass(frozen=True)
class Summary:
    """What was written."""

    out: Path
    rows: dict[str, int]
    ready_accounts: int
    expanded_accounts: int
